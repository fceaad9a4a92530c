//! Connecting, migrating and checking the schema, typed reads and inserts, and the
//! background cleanup of old session marks.

use super::rows::*;
use super::sql::name;
use super::*;
use crate::warehouse::Warehouse;
use anyhow::Context;
use clickhouse::sql::Identifier;
use clickhouse::{Client, Row, RowOwned, RowRead, RowWrite};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

impl ClickHouseWarehouse {
    /// Connect to `url` (`http://host:8123`, credentials may be in the URL), create
    /// `database` if missing, apply the migrations and check the schema. Errors name what is
    /// wrong; a schema mismatch lists every differing column.
    pub async fn connect(url: &str, database: &str) -> anyhow::Result<Arc<ClickHouseWarehouse>> {
        let valid = !database.is_empty()
            && database.len() <= 200
            && database.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        anyhow::ensure!(
            valid,
            "ClickHouse database name {database:?} must be letters, digits and _ (not starting with a digit)"
        );
        let mut parsed = url::Url::parse(url).with_context(|| format!("ClickHouse URL {url:?}"))?;
        let user = percent_encoding::percent_decode_str(parsed.username())
            .decode_utf8_lossy()
            .into_owned();
        let password = parsed
            .password()
            .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        let mut base = Client::default()
            .with_url(parsed.as_str().trim_end_matches('/'))
            .with_validation(false)
            .with_setting("max_query_size", MAX_QUERY_SIZE);
        if !user.is_empty() {
            base = base.with_user(user);
        }
        if let Some(p) = password {
            base = base.with_password(p);
        }
        timed(
            name::CREATE_DATABASE,
            base.query(sql::sql(name::CREATE_DATABASE))
                .bind(Identifier(database))
                .execute(),
        )
        .await
        .with_context(|| format!("creating the ClickHouse database {database} at {}", parsed.as_str()))?;
        let w = ClickHouseWarehouse {
            client: base.with_database(database),
            database: database.to_string(),
            cleanup_every_ms: AtomicU64::new(600_000),
            watermark: Mutex::new(None),
            fenced: Mutex::new(None),
            last_cleanup: Mutex::new(Instant::now()),
        };
        w.migrate().await.context("applying the ClickHouse migrations")?;
        w.check_schema().await?;
        Ok(Arc::new(w))
    }

    /// How often `write_rollup` may start the background deletion of superseded rollup
    /// generations (default 10 min).
    pub fn set_cleanup_every(&self, every: Duration) {
        self.cleanup_every_ms.store(every.as_millis() as u64, Ordering::Relaxed);
    }

    /// The database this warehouse uses.
    pub fn database(&self) -> &str {
        &self.database
    }

    pub(super) async fn exec(&self, op: &str) -> anyhow::Result<()> {
        timed(op, self.client.query(sql::sql(op)).execute()).await
    }

    pub(super) async fn insert<R: Row + RowWrite>(
        &self,
        op: &'static str,
        rows: &[R::Value<'_>],
    ) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let table = sql::get(op)
            .insert
            .as_deref()
            .expect("an insert statement names its table");
        let mut ins =
            wrap(op, self.client.insert::<R>(table).await)?.with_timeouts(Some(SEND_TIMEOUT), Some(QUERY_TIMEOUT));
        for r in rows {
            wrap(op, ins.write(r).await)?;
        }
        wrap(op, ins.end().await)
    }

    /// Apply every migration not yet recorded in `schema_migrations`, in order, under the
    /// migration lock: processes started together after an upgrade apply each migration once
    /// (one applies, the others wait for it and find nothing left to do).
    pub(super) async fn migrate(&self) -> anyhow::Result<()> {
        self.exec(name::CREATE_SCHEMA_MIGRATIONS).await?;
        let applied = self.applied_migrations().await?;
        for a in &applied {
            match sql::MIGRATIONS.iter().find(|m| m.version == a.version) {
                Some(m) if m.checksum() != a.checksum => anyhow::bail!(
                    "migration {} was applied to database {} as {} with checksum {}, but this \
                     build's file has checksum {}: applied migrations must not be edited (add a new one)",
                    m.version,
                    self.database,
                    a.name,
                    a.checksum,
                    m.checksum()
                ),
                Some(_) => {}
                None => tracing::warn!(
                    version = a.version,
                    name = %a.name,
                    "database has a migration this build does not know (a newer Sightline?); the schema check decides"
                ),
            }
        }
        if sql::MIGRATIONS
            .iter()
            .all(|m| applied.iter().any(|a| a.version == m.version))
        {
            return Ok(());
        }
        self.lock_migrations().await?;
        let result = self.apply_pending().await;
        let unlocked = self.exec(name::DROP_MIGRATION_LOCK).await;
        result?;
        unlocked
    }

    async fn applied_migrations(&self) -> anyhow::Result<Vec<AppliedRow>> {
        timed(
            name::APPLIED_MIGRATIONS,
            self.client.query(sql::sql(name::APPLIED_MIGRATIONS)).fetch_all(),
        )
        .await
    }

    /// Take the migration lock: create the lock table, which only one process can do. A
    /// lock older than [`MIGRATION_LOCK_STALE`] was left by a process that died while
    /// migrating and is taken over. Errors after [`MIGRATION_LOCK_WAIT`].
    async fn lock_migrations(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut waiting = false;
        loop {
            match self.exec(name::CREATE_MIGRATION_LOCK).await {
                Ok(()) => return Ok(()),
                Err(e) if format!("{e:#}").contains("already exists") => {}
                Err(e) => return Err(e),
            }
            let q = self
                .client
                .query(sql::sql(name::MIGRATION_LOCK_AGE))
                .bind(self.database.as_str());
            let age_s = match self.fetch::<LockAgeRow>(name::MIGRATION_LOCK_AGE, q).await {
                Ok(rows) => rows.first().map_or(0, |r| r.age_s),
                // UNKNOWN_TABLE: the lock was released between the CREATE and this read (18.16
                // fails a read of system.tables over a table dropped meanwhile): take it now.
                Err(e) if error::error_code(&e) == Some(60) => continue,
                Err(e) => return Err(e),
            };
            if age_s > MIGRATION_LOCK_STALE.as_secs() as i64 {
                tracing::warn!(database = %self.database, age_s, "taking over a stale ClickHouse migration lock");
                self.exec(name::DROP_MIGRATION_LOCK).await?;
                continue;
            }
            anyhow::ensure!(
                started.elapsed() < MIGRATION_LOCK_WAIT,
                "another process has been migrating ClickHouse database {} for over {} s (table \
                 schema_migration_lock); drop that table if no process is migrating",
                self.database,
                MIGRATION_LOCK_WAIT.as_secs()
            );
            if !waiting {
                tracing::info!(database = %self.database, "another process is migrating ClickHouse: waiting");
                waiting = true;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Under the lock: apply what is still not recorded (another process may have applied
    /// it while this one waited).
    async fn apply_pending(&self) -> anyhow::Result<()> {
        let applied = self.applied_migrations().await?;
        for m in sql::MIGRATIONS {
            if applied.iter().any(|a| a.version == m.version) {
                continue;
            }
            for (i, stmt) in m.statements().iter().enumerate() {
                timed(m.name, self.client.query_raw(stmt).execute())
                    .await
                    .with_context(|| format!("migration {} statement {}", m.name, i + 1))?;
            }
            if RECOMPUTE_AFTER.contains(&m.version) {
                // Before the migration is recorded: a crash in between applies it again.
                for site in Warehouse::sites(self).await? {
                    let n = self.mark_dirty(&site.key, 0, RECOMPUTE_TO_DAY).await?;
                    tracing::info!(site = %site.key, sessions = n, migration = m.name, "rollup tables recreated: sessions marked for recompute");
                }
            }
            let checksum = m.checksum();
            self.insert::<MigrationRow>(
                name::INSERT_SCHEMA_MIGRATION,
                &[MigrationRow {
                    version: m.version,
                    name: m.name,
                    checksum: &checksum,
                    applied_at: chrono::Utc::now().timestamp_millis(),
                }],
            )
            .await?;
            tracing::info!(migration = m.name, database = %self.database, "applied ClickHouse migration");
        }
        Ok(())
    }

    /// `DESCRIBE TABLE`: (name, type) of every column.
    pub async fn describe(&self, table: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut cur = wrap(
            name::DESCRIBE_TABLE,
            self.client
                .query(sql::sql(name::DESCRIBE_TABLE))
                .bind(Identifier(table))
                .fetch_bytes("TabSeparated"),
        )?;
        let bytes = timed(name::DESCRIBE_TABLE, cur.collect()).await?;
        let text = String::from_utf8_lossy(&bytes);
        let unescape = |s: &str| s.replace("\\'", "'").replace("\\\\", "\\");
        Ok(text
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some((unescape(f.next()?), unescape(f.next()?)))
            })
            .collect())
    }

    /// Compare every Rust row we insert with `DESCRIBE TABLE` of its table; an error listing
    /// every mismatch if any (P4).
    pub async fn check_schema(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        for (op, cols) in insert_rows() {
            let table = sql::get(op).insert.as_deref().expect("insert table");
            let described = self.describe(table).await?;
            problems.extend(schema_mismatches(table, &cols, &described));
        }
        anyhow::ensure!(
            problems.is_empty(),
            "the ClickHouse schema of database {} does not match this build of Sightline; refusing to start:\n  {}\n\
             (the tables are created by src/warehouse/clickhouse/migrations/; fix the table or add a migration)",
            self.database,
            problems.join("\n  ")
        );
        Ok(())
    }

    pub(super) async fn fetch<R: RowOwned + RowRead>(
        &self,
        op: &str,
        q: clickhouse::query::Query,
    ) -> anyhow::Result<Vec<R>> {
        timed(op, q.fetch_all::<R>()).await
    }

    /// The rows statement `op` gives for the sessions `ids` of `site` in days [days.0,
    /// days.1): `op` takes the site, the two days and a tuple of session ids (`WHERE site =
    /// ? AND day >= ? AND day < ? AND session_id IN ?`); it runs once per [`CHUNK`] ids.
    pub(super) async fn fetch_of_sessions<R: RowOwned + RowRead>(
        &self,
        op: &'static str,
        site: &str,
        days: (i64, i64),
        ids: &[&str],
    ) -> anyhow::Result<Vec<R>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let q = self
                .client
                .query(sql::sql(op))
                .bind(site)
                .bind(days.0)
                .bind(days.1)
                .bind(Tuple(chunk));
            out.extend(self.fetch::<R>(op, q).await?);
        }
        Ok(out)
    }
}

impl ClickHouseWarehouse {
    /// Delete the dirty marks below the oldest still-dirty one and older than the grace
    /// period (best-effort `ALTER TABLE … DELETE`, run asynchronously by ClickHouse). Returns
    /// the cutoff version used.
    pub async fn cleanup_marks(&self) -> anyhow::Result<u64> {
        cleanup_marks(&self.client, CLEANUP_GRACE).await
    }

    /// [`Self::cleanup_marks`] with another grace period (tests: zero).
    pub async fn cleanup_marks_older_than(&self, grace: Duration) -> anyhow::Result<u64> {
        cleanup_marks(&self.client, grace).await
    }

    pub(super) fn maybe_cleanup(&self) {
        {
            let mut last = match self.last_cleanup.lock() {
                Ok(l) => l,
                Err(_) => return,
            };
            if last.elapsed() < Duration::from_millis(self.cleanup_every_ms.load(Ordering::Relaxed)) {
                return;
            }
            *last = Instant::now();
        }
        let client = self.client.clone();
        tokio::spawn(async move {
            if let Err(e) = cleanup_marks(&client, CLEANUP_GRACE).await {
                tracing::warn!(error = %format!("{e:#}"), "deleting covered ClickHouse dirty marks failed; will retry");
            }
        });
    }

    /// Wait until `done` says a mutation finished (18.16 has no `mutations_sync`).
    pub(super) async fn wait_for<F, Fut>(&self, what: &str, mut done: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        let deadline = Instant::now() + Duration::from_secs(300);
        while !done().await? {
            anyhow::ensure!(
                Instant::now() < deadline,
                "ClickHouse did not finish {what} within 300 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }
}

pub(super) async fn cleanup_marks(client: &Client, grace: Duration) -> anyhow::Result<u64> {
    let oldest: Vec<OldestDirtyRow> = timed(
        name::OLDEST_DIRTY_MARK,
        client.query(sql::sql(name::OLDEST_DIRTY_MARK)).fetch_all(),
    )
    .await?;
    let mut cutoff = now_micros().saturating_sub(grace.as_micros() as u64);
    if let Some(o) = oldest.first().filter(|o| o.dirty > 0) {
        cutoff = cutoff.min(o.since);
    }
    timed(
        name::DELETE_COVERED_MARKS,
        client
            .query(sql::sql(name::DELETE_COVERED_MARKS))
            .bind(cutoff)
            .execute(),
    )
    .await?;
    Ok(cutoff)
}

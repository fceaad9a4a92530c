//! The replay table of the ClickHouse warehouse (`replay_chunks`, migration 0006): one row
//! per stored part of a session-replay chunk ([`crate::replay`]).

use super::*;
use crate::event::pb;
use crate::replay::StoredPart;

impl ClickHouseWarehouse {
    /// Insert the replay-chunk parts among a batch's events (one INSERT). Copies are folded
    /// by the table's key, so every part counts as inserted here; the log reported the
    /// duplicates at ingest.
    pub(super) async fn store_replay(&self, parts: &[(&Event, &pb::ReplayChunk)]) -> anyhow::Result<u64> {
        if parts.is_empty() {
            return Ok(0);
        }
        let rows: Vec<ReplayChunkRow> = parts
            .iter()
            .map(|(e, c)| ReplayChunkRow {
                site: &e.site,
                session_id: &e.session_id,
                win: &c.window,
                seq: c.seq,
                // A snapshot-missing marker takes a part number no data part has.
                part: if c.snapshot_missing { u32::MAX } else { c.part },
                visitor_id: &e.visitor_id,
                ts: e.ts,
                day: Date::of_ms(e.ts),
                meta: Blob(prost::Message::encode_to_vec(&pb::ReplayChunk {
                    data: Vec::new(),
                    ..(*c).clone()
                })),
                data: Blob(c.data.clone()),
            })
            .collect();
        self.insert::<ReplayChunkRow>(name::INSERT_REPLAY_CHUNKS, &rows).await?;
        Ok(rows.len() as u64)
    }

    /// [`crate::warehouse::Warehouse::replay_parts`].
    pub(super) async fn read_replay(
        &self,
        site: &str,
        sessions: &[String],
        with_data: bool,
    ) -> anyhow::Result<Vec<StoredPart>> {
        let ids: Vec<&str> = sessions
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut out = Vec::new();
        let decode = |meta: &[u8]| -> anyhow::Result<pb::ReplayChunk> { Ok(prost::Message::decode(meta)?) };
        for chunk in ids.chunks(CHUNK) {
            let op = if with_data {
                name::REPLAY_PARTS
            } else {
                name::REPLAY_PART_META
            };
            let q = self.client.query(sql::sql(op)).bind(site).bind(Tuple(chunk));
            if with_data {
                for r in self.fetch::<ReplayPartRow>(op, q).await? {
                    let chunk = pb::ReplayChunk {
                        data: r.data.0,
                        ..decode(&r.meta.0)?
                    };
                    out.push(StoredPart {
                        session: r.session_id,
                        chunk,
                        bytes: r.bytes,
                    });
                }
            } else {
                for r in self.fetch::<ReplayMetaRow>(op, q).await? {
                    out.push(StoredPart {
                        session: r.session_id,
                        chunk: decode(&r.meta.0)?,
                        bytes: r.bytes,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Delete the replay parts of `site` matching `op` (`delete_visitor_replay` with the
    /// visitor, or `delete_replay_before` with a time), and wait until `count` (its counting
    /// query) answers 0: mutations run in the background.
    pub(super) async fn delete_replay<A>(&self, site: &str, arg: A, op: &str, count: &str) -> anyhow::Result<()>
    where
        A: Serialize + Copy,
    {
        let n = || async {
            let q = self.client.query(sql::sql(count)).bind(site).bind(arg);
            anyhow::Ok(
                self.fetch::<CountRow>(count, q)
                    .await?
                    .first()
                    .map(|r| r.events)
                    .unwrap_or(0),
            )
        };
        if n().await? == 0 {
            return Ok(());
        }
        timed(op, self.client.query(sql::sql(op)).bind(site).bind(arg).execute()).await?;
        self.wait_for("deleting replay chunks", || async { Ok(n().await? == 0) })
            .await
    }
}

-- Sightline's ClickHouse schema, version 1.
--
-- Rules for every migration in this folder (see ../mod.rs, "Migrations"):
--   * it must run on Debian's clickhouse-server 18.16 AND on current ClickHouse
--     (tests/chdb/check.py runs it on ClickHouse 26.x, tests/clickhouse_warehouse.rs on the
--     server of SIGHTLINE_CLICKHOUSE_URL): no TTL, no Nullable, no LowCardinality, no
--     DateTime64, no JSON functions, no window functions;
--   * statements end with `;` at the end of a line; comments are whole `--` lines;
--   * statements are idempotent (IF NOT EXISTS) where ClickHouse allows it, because two
--     processes starting together may both apply a migration (18.16 has no
--     `ADD COLUMN IF NOT EXISTS`: a later ALTER must tolerate being run twice);
--   * an applied migration is never edited (its checksum is recorded): add a new file.
--   * columns the Rust rows write are checked against DESCRIBE TABLE at start-up.

-- Raw events, one row per event id. A replay inserts the same row again: the
-- ReplacingMergeTree folds copies during merges and reads dedup by id (LIMIT 1 BY id,
-- uniqExact(id)) before that. `record` holds the protobuf bytes (Event::encode); the other
-- columns are for lookups and ad-hoc analysis (selector, zone, x, y of clicks; scroll_depth;
-- name = custom event name, survey id or replay recording id; '' / 0 when not applicable).
-- `day` is the UTC day of `ts`, computed in Rust (no server time zone involved).
CREATE TABLE IF NOT EXISTS events
(
    id String,
    site String,
    session_id String,
    visitor_id String,
    ts Int64,
    day Date,
    received_at Int64,
    type String,
    page_key String,
    url String,
    device String,
    bot UInt8,
    bot_reason String DEFAULT '',
    pageview_id String DEFAULT '',
    selector String DEFAULT '',
    zone String DEFAULT '',
    x Float64 DEFAULT 0,
    y Float64 DEFAULT 0,
    scroll_depth Float64 DEFAULT 0,
    name String DEFAULT '',
    record String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, session_id, id);

-- Append-only marks "(site, day) has new events since version"; merges keep the highest
-- version per (site, day). A day is dirty while its highest mark is above its highest
-- rollup_state version.
CREATE TABLE IF NOT EXISTS dirty_marks
(
    site String,
    day Int64,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site, day);

-- One row per write_rollup: the rows of (site, day) written under generation `gen` cover the
-- events up to mark `version`. Reads use the highest gen per (site, day).
CREATE TABLE IF NOT EXISTS rollup_state
(
    site String,
    day Int64,
    version UInt64,
    gen UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (site, day, version, gen);

-- Rollup rows (rollup::to_stored), keyed like the SQLite index (site, part, day, page);
-- `n` keeps the write order. Superseded generations are deleted best-effort.
CREATE TABLE IF NOT EXISTS rollup_rows
(
    site String,
    day Int64,
    version UInt64,
    gen UInt64,
    part String,
    page String,
    n UInt32,
    data String
)
ENGINE = MergeTree
ORDER BY (site, part, day, page, gen, n);

-- Sites as JSON, the latest `updated_at` wins (read with FINAL).
CREATE TABLE IF NOT EXISTS sites
(
    key String,
    json String,
    updated_at UInt64
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY key;

-- Every statement Sightline's ClickHouse warehouse issues, apart from the migrations in
-- migrations/. The Rust code (sql.rs) include_str!s this file and looks statements up by
-- name; tests/chdb/check.py runs each one on current ClickHouse (chDB) and
-- tests/clickhouse_warehouse.rs on the server of SIGHTLINE_CLICKHOUSE_URL (CI: 18.16).
--
-- A block starts with `-- name: <name>`, then header lines:
--   -- arg: <SQL literal>          sample value for the next `?` (in order); the checks
--                                  substitute them, the Rust code binds real values
--   -- returns: <col> <Type>, ...  the result columns; must equal the Rust row struct
--                                  (unit test) and what ClickHouse reports (both checks)
--   -- insert: <table>             a RowBinary insert the crate builds (no SQL body) ...
--   -- columns: <col> <Type>, ...  ... of these columns; must equal the Rust row struct
--                                  (unit test) and DESCRIBE TABLE (start-up check, both checks)
-- and the statement, ended by `;` at the end of a line. `?` is a client-side placeholder of
-- the clickhouse crate (never use a literal `?`). Write SQL that 18.16 understands: no
-- `IN [array]` (bind a tuple instead), no window functions, no JSON functions, no TTL; and
-- don't alias an aggregate with the name of a column another aggregate reads.

-- name: create_database
-- arg: `sightline_check`
CREATE DATABASE IF NOT EXISTS ?;

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at Int64
)
ENGINE = MergeTree
ORDER BY version;

-- name: applied_migrations
-- returns: version UInt32, name String, checksum String
SELECT version, any(name) AS name, any(checksum) AS checksum
FROM schema_migrations
GROUP BY version
ORDER BY version;

-- name: insert_schema_migration
-- insert: schema_migrations
-- columns: version UInt32, name String, checksum String, applied_at Int64

-- name: describe_table
-- arg: `events`
DESCRIBE TABLE ?;

-- name: existing_ids
-- arg: ('site-a', 'site-b')
-- arg: ('session-1', 'session-2')
-- arg: ('0190a1b2-0000-7000-8000-000000000001', '0190a1b2-0000-7000-8000-000000000002')
-- returns: id String
SELECT DISTINCT id
FROM events
WHERE site IN ? AND session_id IN ? AND id IN ?;

-- name: insert_events
-- insert: events
-- columns: id String, site String, session_id String, visitor_id String, ts Int64, day Date, received_at Int64, type String, page_key String, url String, device String, bot UInt8, bot_reason String, pageview_id String, selector String, zone String, x Float64, y Float64, scroll_depth Float64, name String, record String

-- name: session_spans
-- arg: ('site-a')
-- arg: ('session-1', 'session-2')
-- returns: site String, session_id String, first_ts Int64, last_ts Int64
SELECT site, session_id, min(ts) AS first_ts, max(ts) AS last_ts
FROM events
WHERE site IN ? AND session_id IN ?
GROUP BY site, session_id;

-- name: next_version
-- arg: ('site-a', 'site-b')
-- arg: ('site-a', 'site-b')
-- returns: version UInt64
SELECT max(v) + 1 AS version
FROM
(
    SELECT max(version) AS v FROM dirty_marks WHERE site IN ?
    UNION ALL
    SELECT max(version) AS v FROM rollup_state WHERE site IN ?
);

-- name: insert_dirty_marks
-- insert: dirty_marks
-- columns: site String, day Int64, version UInt64

-- name: dirty_days
-- arg: 1000
-- returns: site String, day Int64, version UInt64
SELECT site, day, marked AS version
FROM
(
    SELECT site, day, maxIf(v, src = 0) AS marked, maxIf(v, src = 1) AS done
    FROM
    (
        SELECT site, day, version AS v, toUInt8(0) AS src FROM dirty_marks
        UNION ALL
        SELECT site, day, version AS v, toUInt8(1) AS src FROM rollup_state
    )
    GROUP BY site, day
)
WHERE marked > done
ORDER BY day, site
LIMIT ?;

-- name: session_events
-- arg: 'site-a'
-- arg: 'site-a'
-- arg: '2024-05-01'
-- arg: 1714521600000
-- arg: 1714608000000
-- returns: record String
SELECT record
FROM events
WHERE site = ? AND session_id IN
(
    SELECT session_id FROM events
    WHERE site = ? AND day = toDate(?) AND ts >= ? AND ts < ?
)
ORDER BY session_id, ts, id
LIMIT 1 BY id;

-- name: insert_rollup_rows
-- insert: rollup_rows
-- columns: site String, day Int64, version UInt64, gen UInt64, part String, page String, n UInt32, data String

-- name: insert_rollup_state
-- insert: rollup_state
-- columns: site String, day Int64, version UInt64, gen UInt64

-- name: read_rollup
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: ('pages', 'transitions')
-- arg: 1
-- arg: '/pricing'
-- arg: ('pages', 'grid', 'elements', 'scroll', 'feedback')
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- returns: part String, data String
SELECT part, data
FROM rollup_rows
WHERE site = ? AND day >= ? AND day < ? AND part IN ?
    AND (? = 0 OR page = ? OR part NOT IN ?)
    AND (day, gen) IN
    (
        SELECT day, max(gen) FROM rollup_state
        WHERE site = ? AND day >= ? AND day < ?
        GROUP BY day
    )
ORDER BY day, page, n;

-- name: superseded_generations
-- arg: 1714521600000000
-- arg: 1714521600000000
-- returns: gen UInt64
SELECT DISTINCT gen
FROM
(
    SELECT gen FROM rollup_rows WHERE gen < ?
    UNION ALL
    SELECT gen FROM rollup_state WHERE gen < ?
)
WHERE gen NOT IN (SELECT max(gen) FROM rollup_state GROUP BY site, day)
LIMIT 10000;

-- name: delete_rollup_rows
-- arg: (1, 2)
ALTER TABLE rollup_rows DELETE WHERE gen IN ?;

-- name: delete_rollup_state
-- arg: (1, 2)
ALTER TABLE rollup_state DELETE WHERE gen IN ?;

-- name: count_events
-- arg: 'site-a'
-- returns: events UInt64
SELECT uniqExact(id) AS events
FROM events
WHERE site = ?;

-- name: sites
-- returns: json String
SELECT json
FROM sites FINAL
ORDER BY key;

-- name: insert_sites
-- insert: sites
-- columns: key String, json String, updated_at UInt64

-- name: api_tokens
-- returns: json String
SELECT json
FROM api_tokens FINAL
ORDER BY id;

-- name: insert_api_tokens
-- insert: api_tokens
-- columns: id String, json String, updated_at UInt64

-- name: visitor_days
-- arg: 'site-a'
-- arg: 'visitor-a'
-- returns: day Int64
SELECT DISTINCT intDiv(ts, 86400000) * 86400000 AS day
FROM events
WHERE site = ? AND visitor_id = ?
ORDER BY day;

-- name: count_visitor_events
-- arg: 'site-a'
-- arg: 'visitor-a'
-- returns: events UInt64
SELECT count() AS events
FROM events
WHERE site = ? AND visitor_id = ?;

-- name: delete_visitor_events
-- arg: 'site-a'
-- arg: 'visitor-a'
ALTER TABLE events DELETE WHERE site = ? AND visitor_id = ?;

-- name: count_events_before
-- arg: 'site-a'
-- arg: 1764374400000
-- returns: events UInt64
SELECT count() AS events
FROM events
WHERE site = ? AND ts < ?;

-- name: delete_events_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE events DELETE WHERE site = ? AND ts < ?;

-- name: delete_rollups_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_rows DELETE WHERE site = ? AND day < ?;

-- name: forgets
-- returns: json String
SELECT json
FROM forgets FINAL
ORDER BY id;

-- name: insert_forgets
-- insert: forgets
-- columns: id String, json String, updated_at UInt64

-- name: ping
-- returns: ok UInt8
SELECT toUInt8(1) AS ok;

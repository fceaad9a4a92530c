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

-- name: create_migration_lock
-- The migration lock (client.rs `migrate`): without IF NOT EXISTS, so that only one process
-- creates it; dropped when its migrations are applied.
CREATE TABLE schema_migration_lock (holder String) ENGINE = Log;

-- name: migration_lock_age
-- arg: 'sightline'
-- returns: age_s Int64
-- How long ago the migration lock was taken (nothing when there is no lock).
SELECT toInt64(now()) - toInt64(metadata_modification_time) AS age_s
FROM system.tables
WHERE database = ? AND name = 'schema_migration_lock';

-- name: drop_migration_lock
DROP TABLE IF EXISTS schema_migration_lock;

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
-- arg: ['site-a', 'site-b']
-- arg: ['session-1', 'session-2']
-- arg: ['0190a1b2-0000-7000-8000-000000000001', '0190a1b2-0000-7000-8000-000000000002']
-- returns: id String
-- The lists are bound as arrays read by subqueries: on 18.16 a 10k-element tuple literal
-- takes the parser about 0.3 s, an array literal a few ms; `IN (subquery)` still uses the
-- primary key.
SELECT DISTINCT id
FROM events
WHERE site IN (SELECT arrayJoin(?)) AND session_id IN (SELECT arrayJoin(?)) AND id IN (SELECT arrayJoin(?));

-- name: insert_events
-- insert: events
-- columns: id String, site String, session_id String, visitor_id String, ts Int64, day Date, received_at Int64, type String, page_key String, url String, device String, bot UInt8, bot_reason String, pageview_id String, selector String, zone String, x Float64, y Float64, scroll_depth Float64, name String, record String

-- name: mark_sessions
-- arg: ['site-a', 'site-b']
-- arg: ['session-1', 'session-2']
-- arg: [7, 9]
-- arg: 1714521600000000
-- arg: ['site-a', 'site-b']
-- arg: ['session-1', 'session-2']
-- arg: ['site-a', 'site-b']
-- arg: ['session-1', 'session-2']
-- One mark per (site, session_id, bucket) of the three parallel arrays, all with one
-- version: the fourth argument (the process clock) or, when higher, one above every mark
-- and state version stored for those sessions, read by the server as it inserts (one round
-- trip). Parallel arrays, not an array of tuples: 18.16 takes ~1 ms to parse 1,000 strings
-- but ~0.4 s for 400 tuples (as in existing_ids).
INSERT INTO session_marks (site, session_id, bucket, version)
WITH ? AS sites, ? AS ids, ? AS buckets
SELECT
    sites[i] AS site,
    ids[i] AS session_id,
    toUInt16(buckets[i]) AS bucket,
    greatest(toUInt64(?), (
        SELECT max(v)
        FROM
        (
            SELECT max(version) AS v
            FROM session_marks
            WHERE site IN (SELECT arrayJoin(?)) AND session_id IN (SELECT arrayJoin(?))
            UNION ALL
            SELECT max(version) AS v
            FROM session_state
            WHERE site IN (SELECT arrayJoin(?)) AND session_id IN (SELECT arrayJoin(?))
        )
    ) + 1) AS version
FROM system.one
ARRAY JOIN arrayEnumerate(ids) AS i;

-- name: next_site_version
-- arg: 'site-a'
-- arg: 'site-a'
-- returns: version UInt64
SELECT max(v) AS version
FROM
(
    SELECT max(version) AS v FROM session_marks WHERE site = ?
    UNION ALL
    SELECT max(version) AS v FROM session_state WHERE site = ?
);

-- name: insert_session_marks
-- insert: session_marks
-- columns: site String, session_id String, bucket UInt16, version UInt64

-- name: insert_session_state
-- insert: session_state
-- columns: site String, session_id String, version UInt64

-- name: dirty_sessions
-- arg: 64
-- arg: (1, 5, 63)
-- arg: 1714521600000000
-- arg: 64
-- arg: (1, 5, 63)
-- arg: 1714521600000000
-- arg: 500
-- returns: site String, session_id String, newest UInt64, since UInt64, fresh UInt8
SELECT site, session_id, max(version) AS newest, min(version) AS since, toUInt8(max(done) = 0) AS fresh
FROM
(
    SELECT site, session_id, version, done
    FROM
    (
        SELECT site, session_id, version
        FROM session_marks
        WHERE bucket % ? IN ? AND version >= ?
    ) AS m
    ANY LEFT JOIN
    (
        SELECT site, session_id, max(version) AS done
        FROM session_state
        WHERE (site, session_id) IN (SELECT site, session_id FROM session_marks WHERE bucket % ? IN ? AND version >= ?)
        GROUP BY site, session_id
    ) AS s USING (site, session_id)
    WHERE version > done
)
GROUP BY site, session_id
ORDER BY since, site, session_id
LIMIT ?;

-- name: oldest_dirty_mark
-- returns: dirty UInt64, since UInt64
SELECT count() AS dirty, min(version) AS since
FROM
(
    SELECT site, session_id, version
    FROM session_marks
) AS m
ANY LEFT JOIN
(
    SELECT site, session_id, max(version) AS done
    FROM session_state
    WHERE (site, session_id) IN (SELECT site, session_id FROM session_marks)
    GROUP BY site, session_id
) AS s USING (site, session_id)
WHERE version > done;

-- name: delete_covered_marks
-- arg: 1714521600000000
ALTER TABLE session_marks DELETE WHERE version < ?;

-- name: sessions_in_days
-- arg: 'site-a'
-- arg: '2024-05-01'
-- arg: '2024-05-03'
-- arg: 1714521600000
-- arg: 1714780800000
-- returns: session_id String
SELECT DISTINCT session_id
FROM events
WHERE site = ? AND day >= toDate(?) AND day <= toDate(?) AND ts >= ? AND ts < ?
ORDER BY session_id;

-- name: stated_sessions
-- arg: 'site-a'
-- arg: ('session-1', 'session-2')
-- returns: session_id String
-- The sessions among these that have a session_state row (a "begun" one included): the
-- check of dirty_sessions' `fresh`, which can be wrong (see ClickHouseWarehouse::still_fresh).
SELECT DISTINCT session_id
FROM session_state
WHERE site = ? AND session_id IN ?;

-- name: session_events
-- arg: 'site-a'
-- arg: ('session-1', 'session-2')
-- returns: record String
SELECT record
FROM events
WHERE site = ? AND session_id IN ?
ORDER BY session_id, ts, id
LIMIT 1 BY id;

-- name: insert_pages
-- insert: rollup_pages
-- columns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, pageviews Int64, clicks Int64, quick_backs Int64, fold_n Int64, viewport_h_sum Int64, doc_h_sum Int64

-- name: net_pages
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, pageviews Int64, clicks Int64, quick_backs Int64, fold_n Int64, viewport_h_sum Int64, doc_h_sum Int64
SELECT site, day, session_id, device, bot, page, layout,
    sum(pageviews) AS pageviews,
    sum(clicks) AS clicks,
    sum(quick_backs) AS quick_backs,
    sum(fold_n) AS fold_n,
    sum(viewport_h_sum) AS viewport_h_sum,
    sum(doc_h_sum) AS doc_h_sum
FROM rollup_pages
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, page, layout;

-- name: sum_pages
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 1
-- arg: '/pricing'
-- returns: day Int64, device String, bot UInt8, page String, layout String, pageviews Int64, clicks Int64, quick_backs Int64, fold_n Int64, viewport_h_sum Int64, doc_h_sum Int64
SELECT day, device, bot, page, layout,
    sum(pageviews) AS pageviews,
    sum(clicks) AS clicks,
    sum(quick_backs) AS quick_backs,
    sum(fold_n) AS fold_n,
    sum(viewport_h_sum) AS viewport_h_sum,
    sum(doc_h_sum) AS doc_h_sum
FROM rollup_pages
WHERE site = ? AND day >= ? AND day < ? AND (? = 0 OR page = ?)
GROUP BY day, device, bot, page, layout
HAVING pageviews != 0 OR clicks != 0 OR quick_backs != 0 OR fold_n != 0 OR viewport_h_sum != 0 OR doc_h_sum != 0;

-- name: insert_grid
-- insert: rollup_grid
-- columns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, cx UInt32, cy UInt32, clicks Int64

-- name: net_grid
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, cx UInt32, cy UInt32, clicks Int64
SELECT site, day, session_id, device, bot, page, layout, cx, cy,
    sum(clicks) AS clicks
FROM rollup_grid
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, page, layout, cx, cy;

-- name: sum_grid
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 1
-- arg: '/pricing'
-- returns: day Int64, device String, bot UInt8, page String, layout String, cx UInt32, cy UInt32, clicks Int64
SELECT day, device, bot, page, layout, cx, cy,
    sum(clicks) AS clicks
FROM rollup_grid
WHERE site = ? AND day >= ? AND day < ? AND (? = 0 OR page = ?)
GROUP BY day, device, bot, page, layout, cx, cy
HAVING clicks != 0;

-- name: insert_elements
-- insert: rollup_elements
-- columns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, selector String, zone String, text String, text_ts Int64, clicks Int64, rage_clicks Int64, dead_clicks Int64, el_n Int64, el_x_sum Float64, el_y_sum Float64

-- name: net_elements
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, selector String, zone String, text String, text_ts Int64, clicks Int64, rage_clicks Int64, dead_clicks Int64, el_n Int64, el_x_sum Float64, el_y_sum Float64
SELECT site, day, session_id, device, bot, page, layout, selector, zone, text, text_ts,
    sum(clicks) AS clicks,
    sum(rage_clicks) AS rage_clicks,
    sum(dead_clicks) AS dead_clicks,
    sum(el_n) AS el_n,
    sum(el_x_sum) AS el_x_sum,
    sum(el_y_sum) AS el_y_sum
FROM rollup_elements
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, page, layout, selector, zone, text, text_ts;

-- name: sum_elements
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 1
-- arg: '/pricing'
-- returns: day Int64, device String, bot UInt8, page String, layout String, selector String, zone String, text String, text_ts Int64, clicks Int64, rage_clicks Int64, dead_clicks Int64, el_n Int64, el_x_sum Float64, el_y_sum Float64
-- The inner sums are per stored key, text included: a (text, text_ts) whose rows net to 0
-- clicks is a text a session no longer has (changed or erased), left out of the most recent
-- text (the largest (text_ts, text) of the live rows); the outer sums are per element.
SELECT day, device, bot, page, layout, selector, zone,
    argMaxIf(t, (ts, t), c > 0) AS text,
    maxIf(ts, c > 0) AS text_ts,
    sum(c) AS clicks,
    sum(r) AS rage_clicks,
    sum(d) AS dead_clicks,
    sum(n) AS el_n,
    sum(xs) AS el_x_sum,
    sum(ys) AS el_y_sum
FROM
(
    SELECT day, device, bot, page, layout, selector, zone, text AS t, text_ts AS ts,
        sum(clicks) AS c,
        sum(rage_clicks) AS r,
        sum(dead_clicks) AS d,
        sum(el_n) AS n,
        sum(el_x_sum) AS xs,
        sum(el_y_sum) AS ys
    FROM rollup_elements
    WHERE site = ? AND day >= ? AND day < ? AND (? = 0 OR page = ?)
    GROUP BY day, device, bot, page, layout, selector, zone, text, text_ts
)
GROUP BY day, device, bot, page, layout, selector, zone
HAVING clicks != 0 OR rage_clicks != 0 OR dead_clicks != 0 OR el_n != 0;

-- name: insert_el_cells
-- insert: rollup_el_cells
-- columns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, selector String, zone String, x UInt8, y UInt8, clicks Int64

-- name: net_el_cells
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, selector String, zone String, x UInt8, y UInt8, clicks Int64
SELECT site, day, session_id, device, bot, page, layout, selector, zone, x, y,
    sum(clicks) AS clicks
FROM rollup_el_cells
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, page, layout, selector, zone, x, y;

-- name: sum_el_cells
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 1
-- arg: '/pricing'
-- returns: day Int64, device String, bot UInt8, page String, layout String, selector String, zone String, x UInt8, y UInt8, clicks Int64
SELECT day, device, bot, page, layout, selector, zone, x, y,
    sum(clicks) AS clicks
FROM rollup_el_cells
WHERE site = ? AND day >= ? AND day < ? AND (? = 0 OR page = ?)
GROUP BY day, device, bot, page, layout, selector, zone, x, y
HAVING clicks != 0;

-- name: insert_scroll
-- insert: rollup_scroll
-- columns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, depth UInt32, pageviews Int64

-- name: net_scroll
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, depth UInt32, pageviews Int64
SELECT site, day, session_id, device, bot, page, layout, depth,
    sum(pageviews) AS pageviews
FROM rollup_scroll
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, page, layout, depth;

-- name: sum_scroll
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 1
-- arg: '/pricing'
-- returns: day Int64, device String, bot UInt8, page String, layout String, depth UInt32, pageviews Int64
SELECT day, device, bot, page, layout, depth,
    sum(pageviews) AS pageviews
FROM rollup_scroll
WHERE site = ? AND day >= ? AND day < ? AND (? = 0 OR page = ?)
GROUP BY day, device, bot, page, layout, depth
HAVING pageviews != 0;

-- name: insert_journeys
-- insert: rollup_journeys
-- columns: site String, day Int64, session_id String, device String, bot UInt8, kind UInt8, from_page String, to_page String, count Int64, bounces Int64

-- name: net_journeys
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, kind UInt8, from_page String, to_page String, count Int64, bounces Int64
SELECT site, day, session_id, device, bot, kind, from_page, to_page,
    sum(count) AS count, sum(bounces) AS bounces
FROM rollup_journeys
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, kind, from_page, to_page;

-- name: sum_journeys
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- returns: day Int64, device String, bot UInt8, kind UInt8, from_page String, to_page String, count Int64, bounces Int64
SELECT day, device, bot, kind, from_page, to_page,
    sum(count) AS count, sum(bounces) AS bounces
FROM rollup_journeys
WHERE site = ? AND day >= ? AND day < ?
GROUP BY day, device, bot, kind, from_page, to_page
HAVING count != 0 OR bounces != 0;

-- name: journey_ends
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 0
-- arg: 'desktop'
-- arg: 'desktop'
-- returns: kind UInt8, page String, sessions Int64, bounces Int64
-- The entry (kind 0) and exit (kind 1) pages of /journeys without a segment filter
-- (crate::warehouse::JourneysQuery; crate::model::journeys::Journeys::ranked is the
-- definition): the day totals of rollup_journeys summed over the days, of one device
-- class ('' for all), bots only when asked (1). journeys.rs ranks them.
SELECT kind, from_page AS page, sum(count) AS sessions, sum(bounces) AS bounces
FROM rollup_journeys_day
WHERE site = ? AND day >= ? AND day < ? AND kind IN (0, 1) AND (? = 1 OR bot = 0) AND (? = '' OR device = ?)
GROUP BY kind, page
HAVING sessions != 0 OR bounces != 0;

-- name: journey_totals
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 0
-- arg: 'desktop'
-- arg: 'desktop'
-- returns: kind UInt8, keys UInt64
-- How many distinct transitions (kind 2) and paths (kind 3) /journeys has over the days,
-- filtered as journey_ends.
SELECT kind, toUInt64(count()) AS keys
FROM
(
    SELECT kind, from_page, to_page
    FROM rollup_journeys_day
    WHERE site = ? AND day >= ? AND day < ? AND kind IN (2, 3) AND (? = 1 OR bot = 0) AND (? = '' OR device = ?)
    GROUP BY kind, from_page, to_page
    HAVING sum(count) != 0
)
GROUP BY kind;

-- name: journey_top
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 2
-- arg: 0
-- arg: 'desktop'
-- arg: 'desktop'
-- arg: 10
-- returns: from_page String, to_page String, count Int64
-- The most frequent transitions (kind 2) or paths (kind 3, their pages joined by
-- PATH_SEP, compared joined, as Journeys::ranked compares them) of /journeys, filtered as
-- journey_ends: a top-N sort, by count descending, then by key as bytes (the order of
-- Journeys::ranked), at most the given number of rows.
SELECT from_page, to_page, sum(count) AS count
FROM rollup_journeys_day
WHERE site = ? AND day >= ? AND day < ? AND kind = ? AND (? = 1 OR bot = 0) AND (? = '' OR device = ?)
GROUP BY from_page, to_page
HAVING count != 0
ORDER BY count DESC, from_page, to_page
LIMIT ?;

-- name: insert_problems
-- insert: rollup_problems
-- columns: site String, day Int64, session_id String, device String, bot UInt8, kind UInt8, page String, selector String, zone String, rage_clicks Int64, dead_clicks Int64, quick_backs Int64, sessions Int64

-- name: net_problems
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, kind UInt8, page String, selector String, zone String, rage_clicks Int64, dead_clicks Int64, quick_backs Int64, sessions Int64
SELECT site, day, session_id, device, bot, kind, page, selector, zone,
    sum(rage_clicks) AS rage_clicks, sum(dead_clicks) AS dead_clicks, sum(quick_backs) AS quick_backs,
    sum(sessions) AS sessions
FROM rollup_problems
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, kind, page, selector, zone;

-- name: sum_problems
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- returns: day Int64, device String, bot UInt8, kind UInt8, page String, selector String, zone String, rage_clicks Int64, dead_clicks Int64, quick_backs Int64, sessions Int64
SELECT day, device, bot, kind, page, selector, zone,
    sum(rage_clicks) AS rage_clicks, sum(dead_clicks) AS dead_clicks, sum(quick_backs) AS quick_backs,
    sum(sessions) AS sessions
FROM rollup_problems
WHERE site = ? AND day >= ? AND day < ?
GROUP BY day, device, bot, kind, page, selector, zone
HAVING rage_clicks != 0 OR dead_clicks != 0 OR quick_backs != 0 OR sessions != 0;

-- name: insert_zones
-- insert: rollup_zones
-- columns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, zone String, exposed Int64, clicked Int64, exposed_clicked Int64, visible_ms_sum Int64, hovered Int64, hover_ms_sum Int64, hesitation_n Int64, hesitation_ms_sum Int64, click_sessions Int64, converted_sessions Int64

-- name: net_zones
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, page String, layout String, zone String, exposed Int64, clicked Int64, exposed_clicked Int64, visible_ms_sum Int64, hovered Int64, hover_ms_sum Int64, hesitation_n Int64, hesitation_ms_sum Int64, click_sessions Int64, converted_sessions Int64
SELECT site, day, session_id, device, bot, page, layout, zone,
    sum(exposed) AS exposed,
    sum(clicked) AS clicked,
    sum(exposed_clicked) AS exposed_clicked,
    sum(visible_ms_sum) AS visible_ms_sum,
    sum(hovered) AS hovered,
    sum(hover_ms_sum) AS hover_ms_sum,
    sum(hesitation_n) AS hesitation_n,
    sum(hesitation_ms_sum) AS hesitation_ms_sum,
    sum(click_sessions) AS click_sessions,
    sum(converted_sessions) AS converted_sessions
FROM rollup_zones
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, page, layout, zone;

-- name: sum_zones
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 1
-- arg: '/pricing'
-- returns: day Int64, device String, bot UInt8, page String, layout String, zone String, exposed Int64, clicked Int64, exposed_clicked Int64, visible_ms_sum Int64, hovered Int64, hover_ms_sum Int64, hesitation_n Int64, hesitation_ms_sum Int64, click_sessions Int64, converted_sessions Int64
SELECT day, device, bot, page, layout, zone,
    sum(exposed) AS exposed,
    sum(clicked) AS clicked,
    sum(exposed_clicked) AS exposed_clicked,
    sum(visible_ms_sum) AS visible_ms_sum,
    sum(hovered) AS hovered,
    sum(hover_ms_sum) AS hover_ms_sum,
    sum(hesitation_n) AS hesitation_n,
    sum(hesitation_ms_sum) AS hesitation_ms_sum,
    sum(click_sessions) AS click_sessions,
    sum(converted_sessions) AS converted_sessions
FROM rollup_zones
WHERE site = ? AND day >= ? AND day < ? AND (? = 0 OR page = ?)
GROUP BY day, device, bot, page, layout, zone
HAVING exposed != 0 OR clicked != 0 OR exposed_clicked != 0 OR visible_ms_sum != 0 OR hovered != 0 OR hover_ms_sum != 0 OR hesitation_n != 0 OR hesitation_ms_sum != 0 OR click_sessions != 0 OR converted_sessions != 0;

-- name: insert_surveys
-- insert: rollup_surveys
-- columns: site String, day Int64, session_id String, device String, bot UInt8, survey_id String, question_id String, kind String, value String, responses Int64

-- name: net_surveys
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, survey_id String, question_id String, kind String, value String, responses Int64
SELECT site, day, session_id, device, bot, survey_id, question_id, kind, value,
    sum(responses) AS responses
FROM rollup_surveys
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, survey_id, question_id, kind, value;

-- name: sum_surveys
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- returns: day Int64, device String, bot UInt8, survey_id String, question_id String, kind String, value String, responses Int64
SELECT day, device, bot, survey_id, question_id, kind, value,
    sum(responses) AS responses
FROM rollup_surveys
WHERE site = ? AND day >= ? AND day < ?
GROUP BY day, device, bot, survey_id, question_id, kind, value
HAVING responses != 0;

-- name: insert_reach
-- insert: rollup_reach
-- columns: site String, day Int64, session_id String, device String, bot UInt8, survey_id String, answered String, dismissed_at String, dismissed UInt8, sessions Int64

-- name: net_reach
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, survey_id String, answered String, dismissed_at String, dismissed UInt8, sessions Int64
SELECT site, day, session_id, device, bot, survey_id, answered, dismissed_at, dismissed,
    sum(sessions) AS sessions
FROM rollup_reach
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, survey_id, answered, dismissed_at, dismissed;

-- name: sum_reach
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- returns: day Int64, device String, bot UInt8, survey_id String, answered String, dismissed_at String, dismissed UInt8, sessions Int64
SELECT day, device, bot, survey_id, answered, dismissed_at, dismissed,
    sum(sessions) AS sessions
FROM rollup_reach
WHERE site = ? AND day >= ? AND day < ?
GROUP BY day, device, bot, survey_id, answered, dismissed_at, dismissed
HAVING sessions != 0;

-- name: insert_goal
-- insert: rollup_goal
-- columns: site String, day Int64, session_id String, device String, bot UInt8, goal String, kind String, step UInt32, page String, selector String, zone String, survey String, sessions Int64, converted Int64

-- name: net_goal
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, goal String, kind String, step UInt32, page String, selector String, zone String, survey String, sessions Int64, converted Int64
SELECT site, day, session_id, device, bot, goal, kind, step, page, selector, zone, survey,
    sum(sessions) AS sessions, sum(converted) AS converted
FROM rollup_goal
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, goal, kind, step, page, selector, zone, survey;

-- name: sum_goal
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- returns: day Int64, device String, bot UInt8, goal String, kind String, step UInt32, page String, selector String, zone String, survey String, sessions Int64, converted Int64
SELECT day, device, bot, goal, kind, step, page, selector, zone, survey,
    sum(sessions) AS sessions, sum(converted) AS converted
FROM rollup_goal
WHERE site = ? AND day >= ? AND day < ?
GROUP BY day, device, bot, goal, kind, step, page, selector, zone, survey
HAVING sessions != 0;

-- name: rollup_days
-- arg: 'site-a'
-- arg: 'site-a'
-- arg: 'site-a'
-- returns: day Int64
SELECT DISTINCT day
FROM
(
    SELECT day FROM rollup_sessions WHERE site = ?
    UNION ALL
    SELECT day FROM rollup_pages WHERE site = ?
    UNION ALL
    SELECT day FROM rollup_feedback WHERE site = ?
);

-- name: segment_sessions
-- arg: 'site-a'
-- arg: 1714435200000
-- arg: 1714780800000
-- arg: 'search'
-- arg: 'search'
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: 'Chrome'
-- arg: 'Chrome'
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- returns: session_id String
-- The snippet sessions of a segment (docs/analytics.md, "Segments"): the live row (newest
-- gen) of each session in the days, its segment columns equal to the values given ('' for
-- any). Read alone by nothing: store.rs puts it, as `session_id IN (…)`, after the
-- `WHERE site = ? AND day >= ? AND day < ?` of the sum_* and read_* statements when a
-- query has a segment filter (a semi-join; without one they run as written).
SELECT session_id
FROM
(
    SELECT session_id, deleted, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language
    FROM rollup_sessions
    WHERE site = ? AND day >= ? AND day < ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, session_key
)
WHERE deleted = 0
    AND (? = '' OR channel = ?) AND (? = '' OR referrer = ?) AND (? = '' OR utm_source = ?) AND (? = '' OR utm_medium = ?) AND (? = '' OR utm_campaign = ?) AND (? = '' OR browser = ?) AND (? = '' OR os = ?) AND (? = '' OR language = ?);

-- name: insert_sessions
-- insert: rollup_sessions
-- columns: site String, day Int64, session_id String, session_key String, gen UInt64, deleted UInt8, device String, bot UInt8, visitor_id String, start_ts Int64, end_ts Int64, pageviews UInt32, step_ts Array(Int64), step_name Array(String), step_custom Array(UInt8), clicks UInt32, rage_clicks UInt32, dead_clicks UInt32, quick_backs UInt32, feedback UInt32, survey_responses UInt32, channel String, referrer String, utm_source String, utm_medium String, utm_campaign String, browser String, os String, language String

-- name: live_sessions
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, session_key String, gen UInt64, deleted UInt8, device String, bot UInt8, visitor_id String, start_ts Int64, end_ts Int64, pageviews UInt32, step_ts Array(Int64), step_name Array(String), step_custom Array(UInt8), clicks UInt32, rage_clicks UInt32, dead_clicks UInt32, quick_backs UInt32, feedback UInt32, survey_responses UInt32, channel String, referrer String, utm_source String, utm_medium String, utm_campaign String, browser String, os String, language String
SELECT
    site,
    day,
    session_id,
    session_key,
    gen,
    deleted,
    device,
    bot,
    visitor_id,
    start_ts,
    end_ts,
    pageviews,
    step_ts,
    step_name,
    step_custom,
    clicks,
    rage_clicks,
    dead_clicks,
    quick_backs,
    feedback,
    survey_responses,
    channel,
    referrer,
    utm_source,
    utm_medium,
    utm_campaign,
    browser,
    os,
    language
FROM
(
    SELECT site, day, session_id, session_key, gen, deleted, device, bot, visitor_id, start_ts, end_ts, pageviews, step_ts, step_name, step_custom, clicks, rage_clicks, dead_clicks, quick_backs, feedback, survey_responses, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language
    FROM rollup_sessions
    WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, session_key
)
WHERE deleted = 0;

-- name: read_sessions
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- returns: site String, day Int64, session_id String, session_key String, gen UInt64, deleted UInt8, device String, bot UInt8, visitor_id String, start_ts Int64, end_ts Int64, pageviews UInt32, step_ts Array(Int64), step_name Array(String), step_custom Array(UInt8), clicks UInt32, rage_clicks UInt32, dead_clicks UInt32, quick_backs UInt32, feedback UInt32, survey_responses UInt32, channel String, referrer String, utm_source String, utm_medium String, utm_campaign String, browser String, os String, language String
SELECT
    site,
    day,
    session_id,
    session_key,
    gen,
    deleted,
    device,
    bot,
    visitor_id,
    start_ts,
    end_ts,
    pageviews,
    step_ts,
    step_name,
    step_custom,
    clicks,
    rage_clicks,
    dead_clicks,
    quick_backs,
    feedback,
    survey_responses,
    channel,
    referrer,
    utm_source,
    utm_medium,
    utm_campaign,
    browser,
    os,
    language
FROM
(
    SELECT site, day, session_id, session_key, gen, deleted, device, bot, visitor_id, start_ts, end_ts, pageviews, step_ts, step_name, step_custom, clicks, rage_clicks, dead_clicks, quick_backs, feedback, survey_responses, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language
    FROM rollup_sessions
    WHERE site = ? AND day >= ? AND day < ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, session_key
)
WHERE deleted = 0;

-- name: funnel_sessions
-- The live session rows of a range that reached a funnel's first step, each timeline cut
-- to the steps that match one of the funnel's steps (Warehouse::funnel_sessions,
-- model::goal::funnel_part): a page view step whose page key is one of the pages, a custom
-- event step whose name is one of the events. Placeholders: the funnel's page keys and
-- event names (arrays), the range (then the segment's, when composed), the first step's
-- kind (1: a custom event) and name.
-- arg: ['shop.example/', 'shop.example/pricing']
-- arg: ['signup']
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 0
-- arg: 'shop.example/'
-- returns: site String, day Int64, session_id String, session_key String, gen UInt64, deleted UInt8, device String, bot UInt8, visitor_id String, start_ts Int64, end_ts Int64, pageviews UInt32, step_ts Array(Int64), step_name Array(String), step_custom Array(UInt8), clicks UInt32, rage_clicks UInt32, dead_clicks UInt32, quick_backs UInt32, feedback UInt32, survey_responses UInt32, channel String, referrer String, utm_source String, utm_medium String, utm_campaign String, browser String, os String, language String
SELECT
    site,
    day,
    session_id,
    session_key,
    gen,
    deleted,
    device,
    bot,
    visitor_id,
    start_ts,
    end_ts,
    pageviews,
    cut_ts AS step_ts,
    cut_name AS step_name,
    cut_custom AS step_custom,
    clicks,
    rage_clicks,
    dead_clicks,
    quick_backs,
    feedback,
    survey_responses,
    channel,
    referrer,
    utm_source,
    utm_medium,
    utm_campaign,
    browser,
    os,
    language
FROM
(
    SELECT site, day, session_id, session_key, gen, deleted, device, bot, visitor_id, start_ts, end_ts, pageviews, clicks, rage_clicks, dead_clicks, quick_backs, feedback, survey_responses, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language,
        arrayMap((n, c) -> toUInt8((c = 0 AND has(CAST(? AS Array(String)), n)) OR (c = 1 AND has(CAST(? AS Array(String)), n))), step_name, step_custom) AS kept,
        arrayFilter((t, k) -> k = 1, step_ts, kept) AS cut_ts,
        arrayFilter((n, k) -> k = 1, step_name, kept) AS cut_name,
        arrayFilter((c, k) -> k = 1, step_custom, kept) AS cut_custom
    FROM rollup_sessions
    WHERE site = ? AND day >= ? AND day < ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, session_key
)
WHERE deleted = 0 AND arrayExists((n, c) -> c = ? AND n = ?, cut_name, cut_custom);

-- name: answer_counts
-- The live survey answers of a range counted per (day, survey, question, kind), of one
-- device class ('' for all), bots only when asked, one survey (when the flag is 1)
-- (Warehouse::answers, model::answers::AnswerSummary::of_rows). Placeholders: the range
-- (then the segment's, when composed), bots, the device twice, the survey flag and survey.
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 0
-- arg: ''
-- arg: ''
-- arg: 0
-- arg: ''
-- returns: day Int64, survey_id String, question_id String, kind String, answers UInt64
SELECT day, survey_id, question_id, kind, toUInt64(count()) AS answers
FROM
(
    SELECT day, session_id, id, deleted, device, bot, survey_id, question_id, kind
    FROM rollup_answers
    WHERE site = ? AND day >= ? AND day < ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, id
)
WHERE deleted = 0 AND (? = 1 OR bot = 0) AND (? = '' OR device = ?) AND (? = 0 OR survey_id = ?)
GROUP BY day, survey_id, question_id, kind;

-- name: answer_texts
-- The live text answers of a range (kind 'text'), newest first (ties by id), of one device
-- class ('' for all), bots only when asked, one survey (when the flag is 1)
-- (Warehouse::answers); the kind is tested on the live row. Placeholders: the range (then
-- the segment's, when composed), bots, the device twice, the survey flag and survey.
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 0
-- arg: ''
-- arg: ''
-- arg: 0
-- arg: ''
-- returns: site String, day Int64, session_id String, id String, gen UInt64, deleted UInt8, device String, bot UInt8, ts Int64, survey_id String, question_id String, kind String, value_type UInt8, value_number Float64, value_text String, value_choices Array(String), page String, session_key String, survey_trigger String
SELECT site, day, session_id, id, gen, deleted, device, bot, ts, survey_id, question_id, kind, value_type, value_number, value_text, value_choices, page, session_key, survey_trigger
FROM
(
    SELECT site, day, session_id, id, gen, deleted, device, bot, ts, survey_id, question_id, kind, value_type, value_number, value_text, value_choices, page, session_key, survey_trigger
    FROM rollup_answers
    WHERE site = ? AND day >= ? AND day < ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, id
)
WHERE deleted = 0 AND kind = 'text' AND (? = 1 OR bot = 0) AND (? = '' OR device = ?) AND (? = 0 OR survey_id = ?)
ORDER BY ts DESC, id ASC;

-- name: feedback_groups
-- The live feedback of a range grouped by (day, page, selector, category), of one device
-- class ('' for all), bots only when asked (Warehouse::feedback,
-- model::feedback::FeedbackSummary::of_rows): items, rated items, the sum of their ratings
-- and the items rated at most the negative bound. Placeholders: the negative bound, the
-- range (then the segment's, when composed), bots, the device twice.
-- arg: 2
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 0
-- arg: ''
-- arg: ''
-- returns: day Int64, page String, selector String, category String, count UInt64, rated UInt64, rating_sum UInt64, negative UInt64
SELECT
    day,
    page,
    selector,
    category,
    toUInt64(count()) AS count,
    toUInt64(sum(has_rating != 0)) AS rated,
    toUInt64(sum(if(has_rating != 0, rating, 0))) AS rating_sum,
    toUInt64(sum(has_rating != 0 AND rating <= ?)) AS negative
FROM
(
    SELECT day, session_id, id, deleted, device, bot, page, has_rating, rating, category, selector
    FROM rollup_feedback
    WHERE site = ? AND day >= ? AND day < ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, id
)
WHERE deleted = 0 AND (? = 1 OR bot = 0) AND (? = '' OR device = ?)
GROUP BY day, page, selector, category
ORDER BY day, page, selector, category;

-- name: feedback_recent
-- The newest live feedback of a range (newest first, ties by id), of one device class
-- ('' for all), bots only when asked, on one page (when the flag is 1), of one category
-- (when the flag is 1), rated within a range (when the flag is 1), at most a number of rows
-- (Warehouse::feedback). Placeholders: the range (then the segment's, when composed),
-- bots, the device twice, the page flag and page, the category flag and category, the rating flag and
-- bounds, the limit.
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 0
-- arg: ''
-- arg: ''
-- arg: 0
-- arg: ''
-- arg: 0
-- arg: ''
-- arg: 1
-- arg: 1
-- arg: 2
-- arg: 50
-- returns: site String, day Int64, session_id String, id String, gen UInt64, deleted UInt8, device String, bot UInt8, ts Int64, page String, session_key String, has_rating UInt8, rating UInt8, comment String, category String, selector String
SELECT site, day, session_id, id, gen, deleted, device, bot, ts, page, session_key, has_rating, rating, comment, category, selector
FROM
(
    SELECT site, day, session_id, id, gen, deleted, device, bot, ts, page, session_key, has_rating, rating, comment, category, selector
    FROM rollup_feedback
    WHERE site = ? AND day >= ? AND day < ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, id
)
WHERE deleted = 0 AND (? = 1 OR bot = 0) AND (? = '' OR device = ?)
    AND (? = 0 OR page = ?) AND (? = 0 OR category = ?)
    AND (? = 0 OR (has_rating != 0 AND rating >= ? AND rating <= ?))
ORDER BY ts DESC, id ASC
LIMIT ?;

-- name: insert_list
-- insert: rollup_list
-- columns: site String, day Int64, session_id String, device String, bot UInt8, feedback UInt8, rage UInt8, dead UInt8, channel String, referrer String, utm_source String, utm_medium String, utm_campaign String, browser String, os String, language String, sessions Int64

-- name: net_list
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, device String, bot UInt8, feedback UInt8, rage UInt8, dead UInt8, channel String, referrer String, utm_source String, utm_medium String, utm_campaign String, browser String, os String, language String, sessions Int64
SELECT site, day, session_id, device, bot, feedback, rage, dead, channel, referrer, utm_source, utm_medium,
    utm_campaign, browser, os, language, sum(sessions) AS sessions
FROM rollup_list
WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
GROUP BY site, day, session_id, device, bot, feedback, rage, dead, channel, referrer, utm_source, utm_medium,
    utm_campaign, browser, os, language;

-- name: count_listed
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 'desktop'
-- arg: 'desktop'
-- arg: 0
-- arg: 0
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: 1
-- arg: 0
-- returns: rows UInt64
-- How many sessions the sessions list without a page or element filter has
-- (crate::warehouse::SessionsQuery::list_of_rows: its `total`): the sum of the list's day
-- totals (rollup_list_day, migration 0012) of the days, of one device class ('' for all),
-- bots only when asked (1), with feedback when asked (1), in the segment ('' for no
-- condition), with rage clicks, dead clicks when asked (1 each): the conditions of
-- `listed_candidates` in its order, then rage and dead. Cost ∝ the days' distinct
-- (device, flags, segment) keys, not their sessions.
SELECT toUInt64(sum(sessions)) AS rows
FROM rollup_list_day
WHERE site = ? AND day >= ? AND day < ? AND (? = '' OR device = ?) AND (? = 1 OR bot = 0)
    AND (? = 0 OR feedback = 1)
    AND (? = '' OR channel = ?) AND (? = '' OR referrer = ?) AND (? = '' OR utm_source = ?)
    AND (? = '' OR utm_medium = ?) AND (? = '' OR utm_campaign = ?) AND (? = '' OR browser = ?)
    AND (? = '' OR os = ?) AND (? = '' OR language = ?)
    AND (? = 0 OR rage = 1) AND (? = 0 OR dead = 1);

-- name: listed_candidates
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 'desktop'
-- arg: 'desktop'
-- arg: 0
-- arg: 0
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- returns: day Int64, session_id String, session_key String, start_ts Int64
-- The rows of rollup_sessions, of any gen, that could be a listed session of the sessions
-- list (its live row passes these conditions, so it is one of them): not deleted, of one
-- device class ('' for all), bots only when asked (1), with feedback when asked (1), in the
-- segment ('' for no condition). list.rs takes the newest of them (sql::page_of: a top-N
-- sort, no aggregation) and reads the candidates' live rows: every listed session newer
-- than the last row taken is among them.
SELECT day, session_id, session_key, start_ts
FROM rollup_sessions
WHERE site = ? AND day >= ? AND day < ? AND deleted = 0 AND (? = '' OR device = ?) AND (? = 1 OR bot = 0)
    AND (? = 0 OR feedback > 0)
    AND (? = '' OR channel = ?) AND (? = '' OR referrer = ?) AND (? = '' OR utm_source = ?)
    AND (? = '' OR utm_medium = ?) AND (? = '' OR utm_campaign = ?) AND (? = '' OR browser = ?)
    AND (? = '' OR os = ?) AND (? = '' OR language = ?);

-- name: listed_sessions
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 'desktop'
-- arg: 'desktop'
-- arg: 0
-- arg: 0
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: 'Chrome'
-- arg: 'Chrome'
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: ''
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 1
-- arg: 0
-- returns: day Int64, session_id String, session_key String, start_ts Int64
-- The sessions of the sessions list without a page or element filter
-- (crate::warehouse::SessionsQuery, whose list_of_rows is the definition): the live session
-- rows (newest gen per key, every column from that one row) of the days, of one device
-- class ('' for all), bots only when asked (1), with feedback when asked (1), in the
-- segment ('' for no condition: a stored segment value is never empty), whose live detail
-- row has a page, and rage / dead clicks on one when asked (1). store.rs counts it
-- (sql::count_of) and takes one page of it, newest first after a cursor (sql::page_of: a
-- top-N sort, so memory stays bounded whatever the range); the page's rows are then read
-- by live_sessions and live_session_details.
SELECT day, session_id, session_key, start_ts
FROM
(
    SELECT day, session_id, session_key, live.2 AS start_ts
    FROM
    (
        SELECT day, session_id, session_key,
            argMax((deleted, start_ts, device, bot, feedback, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language), gen) AS live
        FROM rollup_sessions
        WHERE site = ? AND day >= ? AND day < ?
        GROUP BY day, session_id, session_key
    )
    WHERE live.1 = 0 AND (? = '' OR live.3 = ?) AND (? = 1 OR live.4 = 0) AND (? = 0 OR live.5 > 0)
        AND (? = '' OR live.6 = ?) AND (? = '' OR live.7 = ?) AND (? = '' OR live.8 = ?) AND (? = '' OR live.9 = ?) AND (? = '' OR live.10 = ?) AND (? = '' OR live.11 = ?) AND (? = '' OR live.12 = ?) AND (? = '' OR live.13 = ?)
) AS listed
ALL INNER JOIN
(
    SELECT day, session_id, session_key
    FROM
    (
        SELECT day, session_id, session_key,
            argMax((deleted, length(page_page), arrayExists(x -> x > 0, page_rage_clicks), arrayExists(x -> x > 0, page_dead_clicks)), gen) AS live
        FROM rollup_session_details
        WHERE site = ? AND day >= ? AND day < ?
        GROUP BY day, session_id, session_key
    )
    WHERE live.1 = 0 AND live.2 > 0 AND (? = 0 OR live.3 = 1) AND (? = 0 OR live.4 = 1)
) AS with_pages
USING (day, session_id, session_key);

-- name: insert_session_details
-- insert: rollup_session_details
-- columns: site String, day Int64, session_id String, session_key String, gen UInt64, deleted UInt8, device String, bot UInt8, page_page Array(String), page_pageviews Array(UInt32), page_clicks Array(UInt32), page_rage_clicks Array(UInt32), page_dead_clicks Array(UInt32), page_quick_backs Array(UInt32), el_page Array(String), el_selector Array(String), el_zone Array(String), el_clicks Array(UInt32), el_rage_clicks Array(UInt32), el_dead_clicks Array(UInt32), replay_recording_id Array(String), replay_started_at Array(Int64), replay_ended_at Array(Int64), replay_pages Array(UInt32), replay_events Array(UInt32), replay_bytes Array(UInt64), replay_clicks Array(UInt32), replay_errors Array(UInt32), negative_feedback UInt32

-- name: live_session_details
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, session_key String, gen UInt64, deleted UInt8, device String, bot UInt8, page_page Array(String), page_pageviews Array(UInt32), page_clicks Array(UInt32), page_rage_clicks Array(UInt32), page_dead_clicks Array(UInt32), page_quick_backs Array(UInt32), el_page Array(String), el_selector Array(String), el_zone Array(String), el_clicks Array(UInt32), el_rage_clicks Array(UInt32), el_dead_clicks Array(UInt32), replay_recording_id Array(String), replay_started_at Array(Int64), replay_ended_at Array(Int64), replay_pages Array(UInt32), replay_events Array(UInt32), replay_bytes Array(UInt64), replay_clicks Array(UInt32), replay_errors Array(UInt32), negative_feedback UInt32
SELECT
    site,
    day,
    session_id,
    session_key,
    gen,
    deleted,
    device,
    bot,
    page_page,
    page_pageviews,
    page_clicks,
    page_rage_clicks,
    page_dead_clicks,
    page_quick_backs,
    el_page,
    el_selector,
    el_zone,
    el_clicks,
    el_rage_clicks,
    el_dead_clicks,
    replay_recording_id,
    replay_started_at,
    replay_ended_at,
    replay_pages,
    replay_events,
    replay_bytes,
    replay_clicks,
    replay_errors,
    negative_feedback
FROM
(
    SELECT site, day, session_id, session_key, gen, deleted, device, bot, page_page, page_pageviews, page_clicks, page_rage_clicks, page_dead_clicks, page_quick_backs, el_page, el_selector, el_zone, el_clicks, el_rage_clicks, el_dead_clicks, replay_recording_id, replay_started_at, replay_ended_at, replay_pages, replay_events, replay_bytes, replay_clicks, replay_errors, negative_feedback
    FROM rollup_session_details
    WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, session_key
)
WHERE deleted = 0;

-- name: read_session_details
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- returns: site String, day Int64, session_id String, session_key String, gen UInt64, deleted UInt8, device String, bot UInt8, page_page Array(String), page_pageviews Array(UInt32), page_clicks Array(UInt32), page_rage_clicks Array(UInt32), page_dead_clicks Array(UInt32), page_quick_backs Array(UInt32), el_page Array(String), el_selector Array(String), el_zone Array(String), el_clicks Array(UInt32), el_rage_clicks Array(UInt32), el_dead_clicks Array(UInt32), replay_recording_id Array(String), replay_started_at Array(Int64), replay_ended_at Array(Int64), replay_pages Array(UInt32), replay_events Array(UInt32), replay_bytes Array(UInt64), replay_clicks Array(UInt32), replay_errors Array(UInt32), negative_feedback UInt32
SELECT
    site,
    day,
    session_id,
    session_key,
    gen,
    deleted,
    device,
    bot,
    page_page,
    page_pageviews,
    page_clicks,
    page_rage_clicks,
    page_dead_clicks,
    page_quick_backs,
    el_page,
    el_selector,
    el_zone,
    el_clicks,
    el_rage_clicks,
    el_dead_clicks,
    replay_recording_id,
    replay_started_at,
    replay_ended_at,
    replay_pages,
    replay_events,
    replay_bytes,
    replay_clicks,
    replay_errors,
    negative_feedback
FROM
(
    SELECT site, day, session_id, session_key, gen, deleted, device, bot, page_page, page_pageviews, page_clicks, page_rage_clicks, page_dead_clicks, page_quick_backs, el_page, el_selector, el_zone, el_clicks, el_rage_clicks, el_dead_clicks, replay_recording_id, replay_started_at, replay_ended_at, replay_pages, replay_events, replay_bytes, replay_clicks, replay_errors, negative_feedback
    FROM rollup_session_details
    WHERE site = ? AND day >= ? AND day < ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, session_key
)
WHERE deleted = 0;

-- name: insert_answers
-- insert: rollup_answers
-- columns: site String, day Int64, session_id String, id String, gen UInt64, deleted UInt8, device String, bot UInt8, ts Int64, survey_id String, question_id String, kind String, value_type UInt8, value_number Float64, value_text String, value_choices Array(String), page String, session_key String, survey_trigger String

-- name: live_answers
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, id String, gen UInt64, deleted UInt8, device String, bot UInt8, ts Int64, survey_id String, question_id String, kind String, value_type UInt8, value_number Float64, value_text String, value_choices Array(String), page String, session_key String, survey_trigger String
SELECT
    site,
    day,
    session_id,
    id,
    gen,
    deleted,
    device,
    bot,
    ts,
    survey_id,
    question_id,
    kind,
    value_type,
    value_number,
    value_text,
    value_choices,
    page,
    session_key,
    survey_trigger
FROM
(
    SELECT site, day, session_id, id, gen, deleted, device, bot, ts, survey_id, question_id, kind, value_type, value_number, value_text, value_choices, page, session_key, survey_trigger
    FROM rollup_answers
    WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, id
)
WHERE deleted = 0;

-- name: read_answers
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- returns: site String, day Int64, session_id String, id String, gen UInt64, deleted UInt8, device String, bot UInt8, ts Int64, survey_id String, question_id String, kind String, value_type UInt8, value_number Float64, value_text String, value_choices Array(String), page String, session_key String, survey_trigger String
SELECT
    site,
    day,
    session_id,
    id,
    gen,
    deleted,
    device,
    bot,
    ts,
    survey_id,
    question_id,
    kind,
    value_type,
    value_number,
    value_text,
    value_choices,
    page,
    session_key,
    survey_trigger
FROM
(
    SELECT site, day, session_id, id, gen, deleted, device, bot, ts, survey_id, question_id, kind, value_type, value_number, value_text, value_choices, page, session_key, survey_trigger
    FROM rollup_answers
    WHERE site = ? AND day >= ? AND day < ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, id
)
WHERE deleted = 0;

-- name: insert_feedback
-- insert: rollup_feedback
-- columns: site String, day Int64, session_id String, id String, gen UInt64, deleted UInt8, device String, bot UInt8, ts Int64, page String, session_key String, has_rating UInt8, rating UInt8, comment String, category String, selector String

-- name: live_feedback
-- arg: 'site-a'
-- arg: 1714348800000
-- arg: 1714780800000
-- arg: ('session-1', 'session-2')
-- returns: site String, day Int64, session_id String, id String, gen UInt64, deleted UInt8, device String, bot UInt8, ts Int64, page String, session_key String, has_rating UInt8, rating UInt8, comment String, category String, selector String
SELECT
    site,
    day,
    session_id,
    id,
    gen,
    deleted,
    device,
    bot,
    ts,
    page,
    session_key,
    has_rating,
    rating,
    comment,
    category,
    selector
FROM
(
    SELECT site, day, session_id, id, gen, deleted, device, bot, ts, page, session_key, has_rating, rating, comment, category, selector
    FROM rollup_feedback
    WHERE site = ? AND day >= ? AND day < ? AND session_id IN ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, id
)
WHERE deleted = 0;

-- name: read_feedback
-- arg: 'site-a'
-- arg: 1714521600000
-- arg: 1714780800000
-- arg: 1
-- arg: '/pricing'
-- returns: site String, day Int64, session_id String, id String, gen UInt64, deleted UInt8, device String, bot UInt8, ts Int64, page String, session_key String, has_rating UInt8, rating UInt8, comment String, category String, selector String
SELECT
    site,
    day,
    session_id,
    id,
    gen,
    deleted,
    device,
    bot,
    ts,
    page,
    session_key,
    has_rating,
    rating,
    comment,
    category,
    selector
FROM
(
    SELECT site, day, session_id, id, gen, deleted, device, bot, ts, page, session_key, has_rating, rating, comment, category, selector
    FROM rollup_feedback
    WHERE site = ? AND day >= ? AND day < ?
    ORDER BY gen DESC
    LIMIT 1 BY day, session_id, id
)
WHERE deleted = 0 AND (? = 0 OR page = ?);

-- name: delete_rollup_pages_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_pages DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_grid_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_grid DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_elements_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_elements DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_el_cells_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_el_cells DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_scroll_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_scroll DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_journeys_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_journeys DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_problems_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_problems DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_zones_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_zones DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_surveys_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_surveys DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_reach_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_reach DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_goal_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_goal DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_list_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_list DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_sessions_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_sessions DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_session_details_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_session_details DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_answers_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_answers DELETE WHERE site = ? AND day < ?;

-- name: delete_rollup_feedback_before
-- arg: 'site-a'
-- arg: 1764374400000
ALTER TABLE rollup_feedback DELETE WHERE site = ? AND day < ?;

-- name: rollup_rows_before
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- returns: rows UInt64
SELECT toUInt64(sum(n)) AS rows
FROM
(
    SELECT count() AS n FROM rollup_pages WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_grid WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_elements WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_el_cells WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_scroll WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_zones WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_surveys WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_sessions WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_session_details WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_answers WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_feedback WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_journeys WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_problems WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_reach WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_goal WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_list WHERE site = ? AND day < ?
);

-- name: day_rows_before
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- arg: 'site-a'
-- arg: 1764374400000
-- returns: rows UInt64
-- The rows of the day-total tables (migration 0011) before a day: what the retention
-- deletes of sql::day_totals wait for.
SELECT toUInt64(sum(n)) AS rows
FROM
(
    SELECT count() AS n FROM rollup_pages_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_grid_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_elements_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_el_cells_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_scroll_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_journeys_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_problems_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_zones_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_surveys_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_reach_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_goal_day WHERE site = ? AND day < ?
    UNION ALL
    SELECT count() AS n FROM rollup_list_day WHERE site = ? AND day < ?
);

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

-- name: visitor_sessions
-- arg: 'site-a'
-- arg: 'visitor-a'
-- returns: session_id String, day Int64
SELECT DISTINCT session_id, intDiv(ts, 86400000) * 86400000 AS day
FROM events
WHERE site = ? AND visitor_id = ?
ORDER BY session_id, day;

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

-- name: delete_site
-- arg: 'site-a'
ALTER TABLE sites DELETE WHERE key = ?;

-- name: delete_site_session_marks
-- arg: 'site-a'
ALTER TABLE session_marks DELETE WHERE site = ?;

-- name: delete_site_session_state
-- arg: 'site-a'
ALTER TABLE session_state DELETE WHERE site = ?;

-- name: forgets
-- returns: json String
SELECT json
FROM forgets FINAL
ORDER BY id;

-- name: insert_forgets
-- insert: forgets
-- columns: id String, json String, updated_at UInt64

-- name: running_rollup_writes
-- The rollup writes (rollup tables and session_state) running on the server now, of any
-- client: a takeover waits for them (Warehouse::fence_takeover). The clickhouse crate
-- quotes the table (INSERT INTO `rollup_pages`(…) FORMAT RowBinary): both spellings match.
-- returns: query_id String
SELECT query_id
FROM system.processes
WHERE query LIKE 'INSERT INTO rollup%' OR query LIKE 'INSERT INTO `rollup%'
    OR query LIKE 'INSERT INTO session_state%' OR query LIKE 'INSERT INTO `session_state%';

-- name: ping
-- returns: ok UInt8
SELECT toUInt8(1) AS ok;

-- name: insert_replay_chunks
-- insert: replay_chunks
-- columns: site String, session_id String, win String, seq UInt32, part UInt32, visitor_id String, ts Int64, day Date, meta String, data String

-- name: replay_parts
-- arg: 'site-a'
-- arg: ('session-1', 'session-2')
-- returns: session_id String, meta String, data String, bytes UInt64
SELECT session_id, meta, data, length(data) AS bytes
FROM replay_chunks
WHERE site = ? AND session_id IN ?
LIMIT 1 BY session_id, win, seq, part;

-- name: replay_part_meta
-- arg: 'site-a'
-- arg: ('session-1', 'session-2')
-- returns: session_id String, meta String, bytes UInt64
SELECT session_id, meta, length(data) AS bytes
FROM replay_chunks
WHERE site = ? AND session_id IN ?
LIMIT 1 BY session_id, win, seq, part;

-- name: count_visitor_replay
-- arg: 'site-a'
-- arg: 'visitor-a'
-- returns: events UInt64
SELECT count() AS events
FROM replay_chunks
WHERE site = ? AND visitor_id = ?;

-- name: delete_visitor_replay
-- arg: 'site-a'
-- arg: 'visitor-a'
ALTER TABLE replay_chunks DELETE WHERE site = ? AND visitor_id = ?;

-- name: count_replay_before
-- arg: 'site-a'
-- arg: 1714521600000
-- returns: events UInt64
SELECT count() AS events
FROM replay_chunks
WHERE site = ? AND ts < ?;

-- name: delete_replay_before
-- arg: 'site-a'
-- arg: 1714521600000
ALTER TABLE replay_chunks DELETE WHERE site = ? AND ts < ?;

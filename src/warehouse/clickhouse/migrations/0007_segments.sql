-- Segments (issue 22, docs/analytics.md "Segments"): each session row carries its session's
-- segment — channel, referrer host and UTM source / medium / campaign of its first page
-- view, browser and OS family and language — so that every query can narrow to the
-- sessions of a segment by a semi-join on session ids over rollup_sessions (queries.sql,
-- `segment_sessions`). ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`, and a migration
-- must stand being applied twice, so the table is dropped and created again with the new
-- columns, and every stored session is marked for recompute once this migration is applied
-- (../mod.rs, RECOMPUTE_AFTER): the rollup job refills it (and rewrites the other parts,
-- unchanged) from the raw events, whose records carry the segment fields since this build.
-- Raw events of older builds have none: their sessions get '' (unknown) segments. Stop
-- rollup processes of older builds before upgrading.

DROP TABLE IF EXISTS rollup_sessions;

CREATE TABLE IF NOT EXISTS rollup_sessions
(
    site String,
    day Int64,
    session_id String,
    session_key String,
    gen UInt64,
    deleted UInt8,
    device String,
    bot UInt8,
    visitor_id String,
    start_ts Int64,
    end_ts Int64,
    pageviews UInt32,
    step_ts Array(Int64),
    step_name Array(String),
    step_custom Array(UInt8),
    clicks UInt32,
    rage_clicks UInt32,
    dead_clicks UInt32,
    quick_backs UInt32,
    feedback UInt32,
    survey_responses UInt32,
    channel String,
    referrer String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    browser String,
    os String,
    language String
)
ENGINE = ReplacingMergeTree(gen)
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, session_key)
SETTINGS index_granularity = 512;

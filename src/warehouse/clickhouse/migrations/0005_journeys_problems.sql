-- Journeys and problems as additive parts (issue "Analytics that stay fresh at any traffic"):
-- `/journeys` and `/problems` sum these per (day, device, bot, key) instead of re-reading
-- every session of the range. Same shape and rules as the additive tables of 0004 (signed
-- per-session deltas, summed at read time). Every session is marked for recompute once this
-- migration is applied, so the tables fill from the raw events (../mod.rs, `migrate`).

CREATE TABLE IF NOT EXISTS rollup_journeys
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    kind UInt8,
    from_page String,
    to_page String,
    count Int64,
    bounces Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, kind, from_page, to_page);

CREATE TABLE IF NOT EXISTS rollup_problems
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    kind UInt8,
    page String,
    selector String,
    zone String,
    rage_clicks Int64,
    dead_clicks Int64,
    quick_backs Int64,
    sessions Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, kind, page, selector, zone);

-- The site goal's session counts (issue 21): one row per (session, day, device, bot, goal,
-- kind, step, page, selector, zone, survey), summed like the other additive parts
-- (crate::model::rows::GoalRow), so /problems reads the goal funnel's step counts and the
-- impact groups as sums instead of the range's session rows. Sessions already stored are
-- marked for recompute once this migration is applied (../mod.rs, RECOMPUTE_AFTER).
CREATE TABLE IF NOT EXISTS rollup_goal
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    goal String,
    kind String,
    step UInt32,
    page String,
    selector String,
    zone String,
    survey String,
    sessions Int64,
    converted Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, goal, kind, step, page, selector, zone, survey)
SETTINGS index_granularity = 512;

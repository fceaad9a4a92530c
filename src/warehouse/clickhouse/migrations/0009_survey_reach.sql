-- Survey reach (issue 22): one row per (session, day, device, bot, survey, answered
-- questions, questions it was closed on, dismissed), summed like the other additive parts
-- (crate::model::rows::ReachRow). Sessions already stored are marked for recompute once this
-- migration is applied (../mod.rs, RECOMPUTE_AFTER), so their answers count as impressions.
CREATE TABLE IF NOT EXISTS rollup_reach
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    survey_id String,
    answered String,
    dismissed_at String,
    dismissed UInt8,
    sessions Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, survey_id, answered, dismissed_at, dismissed)
SETTINGS index_granularity = 512;

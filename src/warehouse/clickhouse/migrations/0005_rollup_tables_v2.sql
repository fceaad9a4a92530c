-- Rollup tables, second shape (issue "Analytics that stay fresh at any traffic"):
-- - journeys and problems become additive parts: `/journeys` and `/problems` sum
--   rollup_journeys and rollup_problems per (day, device, bot, key) instead of re-reading
--   every session of the range;
-- - every rollup table gets granules of 512 rows instead of 8,192: a rewrite looks up its
--   sessions' old rows by `session_id IN (…)`, and each id costs a granule read in every
--   large part, so finer granules keep that read in proportion to the sessions, not to
--   the table (docs/rollups.md, "Flat cost").
-- Granularity cannot be altered, so the rollup tables are dropped and created again, and
-- every stored session is marked for recompute once this migration is applied (../mod.rs,
-- `migrate`): the rollup job refills them from the raw events. Stop rollup processes of
-- older builds before upgrading.

DROP TABLE IF EXISTS rollup_pages;
DROP TABLE IF EXISTS rollup_grid;
DROP TABLE IF EXISTS rollup_elements;
DROP TABLE IF EXISTS rollup_el_cells;
DROP TABLE IF EXISTS rollup_scroll;
DROP TABLE IF EXISTS rollup_zones;
DROP TABLE IF EXISTS rollup_surveys;
DROP TABLE IF EXISTS rollup_sessions;
DROP TABLE IF EXISTS rollup_session_details;
DROP TABLE IF EXISTS rollup_answers;
DROP TABLE IF EXISTS rollup_feedback;

CREATE TABLE IF NOT EXISTS rollup_pages
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    page String,
    pageviews Int64,
    clicks Int64,
    quick_backs Int64,
    fold_n Int64,
    viewport_h_sum Int64,
    doc_h_sum Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, page)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_grid
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    page String,
    cx UInt32,
    cy UInt32,
    clicks Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, page, cx, cy)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_elements
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    page String,
    selector String,
    zone String,
    clicks Int64,
    rage_clicks Int64,
    dead_clicks Int64,
    el_n Int64,
    el_x_sum Float64,
    el_y_sum Float64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, page, selector, zone)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_el_cells
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    page String,
    selector String,
    zone String,
    x UInt8,
    y UInt8,
    clicks Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, page, selector, zone, x, y)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_scroll
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    page String,
    depth UInt32,
    pageviews Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, page, depth)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_zones
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    page String,
    zone String,
    exposed Int64,
    clicked Int64,
    exposed_clicked Int64,
    visible_ms_sum Int64,
    hovered Int64,
    hover_ms_sum Int64,
    hesitation_n Int64,
    hesitation_ms_sum Int64,
    click_sessions Int64,
    converted_sessions Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, page, zone)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_surveys
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    survey_id String,
    question_id String,
    kind String,
    value String,
    responses Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, survey_id, question_id, kind, value)
SETTINGS index_granularity = 512;

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
    survey_responses UInt32
)
ENGINE = ReplacingMergeTree(gen)
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, session_key)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_session_details
(
    site String,
    day Int64,
    session_id String,
    session_key String,
    gen UInt64,
    deleted UInt8,
    device String,
    bot UInt8,
    page_page Array(String),
    page_pageviews Array(UInt32),
    page_clicks Array(UInt32),
    page_rage_clicks Array(UInt32),
    page_dead_clicks Array(UInt32),
    page_quick_backs Array(UInt32),
    el_page Array(String),
    el_selector Array(String),
    el_zone Array(String),
    el_clicks Array(UInt32),
    el_rage_clicks Array(UInt32),
    el_dead_clicks Array(UInt32),
    replay_recording_id Array(String),
    replay_started_at Array(Int64),
    replay_ended_at Array(Int64),
    replay_pages Array(UInt32),
    replay_events Array(UInt32),
    replay_bytes Array(UInt64),
    replay_clicks Array(UInt32),
    replay_errors Array(UInt32),
    negative_feedback UInt32
)
ENGINE = ReplacingMergeTree(gen)
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, session_key)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_answers
(
    site String,
    day Int64,
    session_id String,
    id String,
    gen UInt64,
    deleted UInt8,
    device String,
    bot UInt8,
    ts Int64,
    survey_id String,
    question_id String,
    kind String,
    value_type UInt8,
    value_number Float64,
    value_text String,
    value_choices Array(String),
    page String,
    session_key String,
    survey_trigger String
)
ENGINE = ReplacingMergeTree(gen)
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, id)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_feedback
(
    site String,
    day Int64,
    session_id String,
    id String,
    gen UInt64,
    deleted UInt8,
    device String,
    bot UInt8,
    ts Int64,
    page String,
    session_key String,
    has_rating UInt8,
    rating UInt8,
    comment String,
    category String,
    selector String
)
ENGINE = ReplacingMergeTree(gen)
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, id)
SETTINGS index_granularity = 512;

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
ORDER BY (site, day, session_id, device, bot, kind, from_page, to_page)
SETTINGS index_granularity = 512;

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
ORDER BY (site, day, session_id, device, bot, kind, page, selector, zone)
SETTINGS index_granularity = 512;

-- Day totals of the additive parts (issue 15): for each per-session table rollup_<part>, a
-- table rollup_<part>_day with the same columns but session_id, summed per (site, day,
-- device, bot, key). A materialized view adds every row inserted into the per-session
-- table (the rollup's `new − old` deltas, crate::warehouse::clickhouse::writes) to it, so a
-- query without a segment filter sums a day's few key rows instead of every session's
-- (sql::day_totals); a segment filter still reads the per-session table. Each table is
-- filled once from its per-session table here, already summed per key (a merge would only
-- sum rows of different parts): TRUNCATE first, so that a migration applied
-- again after a crash fills it exactly once. Processes of this build take the migration
-- lock first (client.rs `migrate`), so one fills the tables and the others wait; processes
-- of older builds must be stopped before upgrading (docs/rollups.md, "Upgrades"). A later
-- migration that recreates a per-session table must TRUNCATE its day table too (the view
-- stays attached to the table's name; a unit test checks this).

CREATE TABLE IF NOT EXISTS rollup_pages_day
(
    site String,
    day Int64,
    device String,
    bot UInt8,
    page String,
    layout String,
    pageviews Int64,
    clicks Int64,
    quick_backs Int64,
    fold_n Int64,
    viewport_h_sum Int64,
    doc_h_sum Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, device, bot, page, layout)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_pages_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_pages_day_mv TO rollup_pages_day AS
SELECT site, day, device, bot, page, layout, pageviews, clicks, quick_backs, fold_n, viewport_h_sum, doc_h_sum
FROM rollup_pages;

INSERT INTO rollup_pages_day (site, day, device, bot, page, layout, pageviews, clicks, quick_backs, fold_n, viewport_h_sum, doc_h_sum)
SELECT site, day, device, bot, page, layout, sum(pageviews) AS pageviews, sum(clicks) AS clicks, sum(quick_backs) AS quick_backs, sum(fold_n) AS fold_n, sum(viewport_h_sum) AS viewport_h_sum, sum(doc_h_sum) AS doc_h_sum
FROM rollup_pages
GROUP BY site, day, device, bot, page, layout;

CREATE TABLE IF NOT EXISTS rollup_grid_day
(
    site String,
    day Int64,
    device String,
    bot UInt8,
    page String,
    layout String,
    cx UInt32,
    cy UInt32,
    clicks Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, device, bot, page, layout, cx, cy)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_grid_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_grid_day_mv TO rollup_grid_day AS
SELECT site, day, device, bot, page, layout, cx, cy, clicks
FROM rollup_grid;

INSERT INTO rollup_grid_day (site, day, device, bot, page, layout, cx, cy, clicks)
SELECT site, day, device, bot, page, layout, cx, cy, sum(clicks) AS clicks
FROM rollup_grid
GROUP BY site, day, device, bot, page, layout, cx, cy;

CREATE TABLE IF NOT EXISTS rollup_elements_day
(
    site String,
    day Int64,
    device String,
    bot UInt8,
    page String,
    layout String,
    selector String,
    zone String,
    text String,
    text_ts Int64,
    clicks Int64,
    rage_clicks Int64,
    dead_clicks Int64,
    el_n Int64,
    el_x_sum Float64,
    el_y_sum Float64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, device, bot, page, layout, selector, zone, text, text_ts)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_elements_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_elements_day_mv TO rollup_elements_day AS
SELECT site, day, device, bot, page, layout, selector, zone, text, text_ts, clicks, rage_clicks, dead_clicks, el_n, el_x_sum, el_y_sum
FROM rollup_elements;

INSERT INTO rollup_elements_day (site, day, device, bot, page, layout, selector, zone, text, text_ts, clicks, rage_clicks, dead_clicks, el_n, el_x_sum, el_y_sum)
SELECT site, day, device, bot, page, layout, selector, zone, text, text_ts, sum(clicks) AS clicks, sum(rage_clicks) AS rage_clicks, sum(dead_clicks) AS dead_clicks, sum(el_n) AS el_n, sum(el_x_sum) AS el_x_sum, sum(el_y_sum) AS el_y_sum
FROM rollup_elements
GROUP BY site, day, device, bot, page, layout, selector, zone, text, text_ts;

CREATE TABLE IF NOT EXISTS rollup_el_cells_day
(
    site String,
    day Int64,
    device String,
    bot UInt8,
    page String,
    layout String,
    selector String,
    zone String,
    x UInt8,
    y UInt8,
    clicks Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, device, bot, page, layout, selector, zone, x, y)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_el_cells_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_el_cells_day_mv TO rollup_el_cells_day AS
SELECT site, day, device, bot, page, layout, selector, zone, x, y, clicks
FROM rollup_el_cells;

INSERT INTO rollup_el_cells_day (site, day, device, bot, page, layout, selector, zone, x, y, clicks)
SELECT site, day, device, bot, page, layout, selector, zone, x, y, sum(clicks) AS clicks
FROM rollup_el_cells
GROUP BY site, day, device, bot, page, layout, selector, zone, x, y;

CREATE TABLE IF NOT EXISTS rollup_scroll_day
(
    site String,
    day Int64,
    device String,
    bot UInt8,
    page String,
    layout String,
    depth UInt32,
    pageviews Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, device, bot, page, layout, depth)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_scroll_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_scroll_day_mv TO rollup_scroll_day AS
SELECT site, day, device, bot, page, layout, depth, pageviews
FROM rollup_scroll;

INSERT INTO rollup_scroll_day (site, day, device, bot, page, layout, depth, pageviews)
SELECT site, day, device, bot, page, layout, depth, sum(pageviews) AS pageviews
FROM rollup_scroll
GROUP BY site, day, device, bot, page, layout, depth;

CREATE TABLE IF NOT EXISTS rollup_journeys_day
(
    site String,
    day Int64,
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
ORDER BY (site, day, device, bot, kind, from_page, to_page)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_journeys_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_journeys_day_mv TO rollup_journeys_day AS
SELECT site, day, device, bot, kind, from_page, to_page, count, bounces
FROM rollup_journeys;

INSERT INTO rollup_journeys_day (site, day, device, bot, kind, from_page, to_page, count, bounces)
SELECT site, day, device, bot, kind, from_page, to_page, sum(count) AS count, sum(bounces) AS bounces
FROM rollup_journeys
GROUP BY site, day, device, bot, kind, from_page, to_page;

CREATE TABLE IF NOT EXISTS rollup_problems_day
(
    site String,
    day Int64,
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
ORDER BY (site, day, device, bot, kind, page, selector, zone)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_problems_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_problems_day_mv TO rollup_problems_day AS
SELECT site, day, device, bot, kind, page, selector, zone, rage_clicks, dead_clicks, quick_backs, sessions
FROM rollup_problems;

INSERT INTO rollup_problems_day (site, day, device, bot, kind, page, selector, zone, rage_clicks, dead_clicks, quick_backs, sessions)
SELECT site, day, device, bot, kind, page, selector, zone, sum(rage_clicks) AS rage_clicks, sum(dead_clicks) AS dead_clicks, sum(quick_backs) AS quick_backs, sum(sessions) AS sessions
FROM rollup_problems
GROUP BY site, day, device, bot, kind, page, selector, zone;

CREATE TABLE IF NOT EXISTS rollup_zones_day
(
    site String,
    day Int64,
    device String,
    bot UInt8,
    page String,
    layout String,
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
ORDER BY (site, day, device, bot, page, layout, zone)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_zones_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_zones_day_mv TO rollup_zones_day AS
SELECT site, day, device, bot, page, layout, zone, exposed, clicked, exposed_clicked, visible_ms_sum, hovered, hover_ms_sum, hesitation_n, hesitation_ms_sum, click_sessions, converted_sessions
FROM rollup_zones;

INSERT INTO rollup_zones_day (site, day, device, bot, page, layout, zone, exposed, clicked, exposed_clicked, visible_ms_sum, hovered, hover_ms_sum, hesitation_n, hesitation_ms_sum, click_sessions, converted_sessions)
SELECT site, day, device, bot, page, layout, zone, sum(exposed) AS exposed, sum(clicked) AS clicked, sum(exposed_clicked) AS exposed_clicked, sum(visible_ms_sum) AS visible_ms_sum, sum(hovered) AS hovered, sum(hover_ms_sum) AS hover_ms_sum, sum(hesitation_n) AS hesitation_n, sum(hesitation_ms_sum) AS hesitation_ms_sum, sum(click_sessions) AS click_sessions, sum(converted_sessions) AS converted_sessions
FROM rollup_zones
GROUP BY site, day, device, bot, page, layout, zone;

CREATE TABLE IF NOT EXISTS rollup_surveys_day
(
    site String,
    day Int64,
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
ORDER BY (site, day, device, bot, survey_id, question_id, kind, value)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_surveys_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_surveys_day_mv TO rollup_surveys_day AS
SELECT site, day, device, bot, survey_id, question_id, kind, value, responses
FROM rollup_surveys;

INSERT INTO rollup_surveys_day (site, day, device, bot, survey_id, question_id, kind, value, responses)
SELECT site, day, device, bot, survey_id, question_id, kind, value, sum(responses) AS responses
FROM rollup_surveys
GROUP BY site, day, device, bot, survey_id, question_id, kind, value;

CREATE TABLE IF NOT EXISTS rollup_reach_day
(
    site String,
    day Int64,
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
ORDER BY (site, day, device, bot, survey_id, answered, dismissed_at, dismissed)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_reach_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_reach_day_mv TO rollup_reach_day AS
SELECT site, day, device, bot, survey_id, answered, dismissed_at, dismissed, sessions
FROM rollup_reach;

INSERT INTO rollup_reach_day (site, day, device, bot, survey_id, answered, dismissed_at, dismissed, sessions)
SELECT site, day, device, bot, survey_id, answered, dismissed_at, dismissed, sum(sessions) AS sessions
FROM rollup_reach
GROUP BY site, day, device, bot, survey_id, answered, dismissed_at, dismissed;

CREATE TABLE IF NOT EXISTS rollup_goal_day
(
    site String,
    day Int64,
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
ORDER BY (site, day, device, bot, goal, kind, step, page, selector, zone, survey)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_goal_day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_goal_day_mv TO rollup_goal_day AS
SELECT site, day, device, bot, goal, kind, step, page, selector, zone, survey, sessions, converted
FROM rollup_goal;

INSERT INTO rollup_goal_day (site, day, device, bot, goal, kind, step, page, selector, zone, survey, sessions, converted)
SELECT site, day, device, bot, goal, kind, step, page, selector, zone, survey, sum(sessions) AS sessions, sum(converted) AS converted
FROM rollup_goal
GROUP BY site, day, device, bot, goal, kind, step, page, selector, zone, survey;

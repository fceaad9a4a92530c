-- Element text and layout versions (issue 21).
-- - Layout versions: the page-view-level rollups (pages, grid, elements, el_cells, scroll,
--   zones) get `layout`, the page view's layout version ("" when its pageview event sent
--   none), as a key after `page`, so heatmaps, zones and compare can be split by version;
--   reads without a layout filter sum over versions, as before (docs/analytics.md, "Layout
--   versions").
-- - Element text: rollup_elements keeps each element's most recent visible text (`text`,
--   and `text_ts`: the time of the click that gave it). Both are in the sorting key, not
--   summed: a session whose latest text on an element changed nets its old (text, text_ts)
--   row to 0 and adds the new one, and `sum_elements` takes the most recent text of the rows
--   still live, so reads are per element as before (docs/analytics.md, "Element text").
-- A sorting key cannot be altered on every supported server (18.16), so the tables are
-- dropped and created again, and every stored session is marked for recompute once this
-- migration is applied (../mod.rs, RECOMPUTE_AFTER): the rollup job refills them from the
-- raw events. Stop rollup processes of older builds before upgrading.

DROP TABLE IF EXISTS rollup_pages;
DROP TABLE IF EXISTS rollup_grid;
DROP TABLE IF EXISTS rollup_elements;
DROP TABLE IF EXISTS rollup_el_cells;
DROP TABLE IF EXISTS rollup_scroll;
DROP TABLE IF EXISTS rollup_zones;

CREATE TABLE IF NOT EXISTS rollup_pages
(
    site String,
    day Int64,
    session_id String,
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
ORDER BY (site, day, session_id, device, bot, page, layout)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_grid
(
    site String,
    day Int64,
    session_id String,
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
ORDER BY (site, day, session_id, device, bot, page, layout, cx, cy)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_elements
(
    site String,
    day Int64,
    session_id String,
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
ORDER BY (site, day, session_id, device, bot, page, layout, selector, zone, text, text_ts)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_el_cells
(
    site String,
    day Int64,
    session_id String,
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
ORDER BY (site, day, session_id, device, bot, page, layout, selector, zone, x, y)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_scroll
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    page String,
    layout String,
    depth UInt32,
    pageviews Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, page, layout, depth)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_zones
(
    site String,
    day Int64,
    session_id String,
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
ORDER BY (site, day, session_id, device, bot, page, layout, zone)
SETTINGS index_granularity = 512;

-- Rollups per snippet session (issue "Analytics that stay fresh at any traffic"): the day
-- rollups stored as JSON text (rollup_rows, rollup_state, dirty_marks) are replaced by
-- typed rows per session, summed by ClickHouse at read time. See ../mod.rs, "Rollups".
-- The old rows are dropped: `sightline rollup rebuild` (or the marks of new events)
-- recomputes the sessions from the raw events.

DROP TABLE IF EXISTS rollup_rows;
DROP TABLE IF EXISTS rollup_state;
DROP TABLE IF EXISTS dirty_marks;

-- Append-only marks "session (site, session_id) has new events (or must be recomputed)
-- since `version`". `bucket` = warehouse::bucket_of(session_id), for sharding the rollup
-- work. A session is dirty while a mark is above its newest session_state version. Marks
-- below the oldest still-dirty mark are deleted by the periodic cleanup. Versions are µs
-- clock readings: one partition per hour of them, so a scan from a recent watermark
-- (`version >= ?`) reads the newest partitions only.
CREATE TABLE IF NOT EXISTS session_marks
(
    site String,
    session_id String,
    bucket UInt16,
    version UInt64
)
ENGINE = MergeTree
PARTITION BY intDiv(version, 3600000000)
ORDER BY (site, session_id, version);

-- One row per written session: its rollup rows cover every mark up to `version`.
CREATE TABLE IF NOT EXISTS session_state
(
    site String,
    session_id String,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (site, session_id);

-- Additive parts: per-session rows whose counters are deltas (Int64, signed); the stored
-- rows of a session sum to its current rows, and reads sum over sessions. Rows whose
-- counters sum to 0 are removed by merges.
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
ORDER BY (site, day, session_id, device, bot, page);

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
ORDER BY (site, day, session_id, device, bot, page, cx, cy);

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
ORDER BY (site, day, session_id, device, bot, page, selector, zone);

-- ElementRow.el_cells: clicks per cell of the element's box.
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
ORDER BY (site, day, session_id, device, bot, page, selector, zone, x, y);

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
ORDER BY (site, day, session_id, device, bot, page, depth);

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
ORDER BY (site, day, session_id, device, bot, page, zone);

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
ORDER BY (site, day, session_id, device, bot, survey_id, question_id, kind, value);

-- Per-session parts: one row per key, the highest `gen` wins (reads: ORDER BY gen DESC
-- LIMIT 1 BY key; merges fold the others), `deleted` = 1 is a tombstone for a key the
-- session no longer produces. Nested lists are parallel arrays.
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
ORDER BY (site, day, session_id, session_key);

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
ORDER BY (site, day, session_id, session_key);

-- value_type: 0 number (value_number), 1 text (value_text), 2 choices (value_choices).
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
ORDER BY (site, day, session_id, id);

-- has_rating = 0: no rating sent (rating is then 0).
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
ORDER BY (site, day, session_id, id);

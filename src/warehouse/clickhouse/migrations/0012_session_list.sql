-- The sessions list's counts (issue 15): one row per (session, day, device, bot, and the
-- list's filters: feedback, rage clicks, dead clicks, the segment columns) for every live
-- session the sessions list can show (its live detail row has a page), `sessions` its
-- number of session keys, summed like the other additive parts (the rollup writes
-- `new − net` per session, crate::warehouse::clickhouse::writes; the rows are made by
-- list.rs `list_rows` from the same session and detail rows the other tables get). Its day
-- totals rollup_list_day (as in 0011_day_totals.sql) give the list's `total` from a day's
-- few key rows (queries.sql `count_listed`) instead of the live row of every session
-- (`argMax` per key and a join with the details: 1.6 s on a 10M-event day).
--
-- Filled once here from the live session and detail rows, exactly what the rollup would
-- write for them. The order stands a migration applied again after a crash: the
-- per-session table is emptied and filled, then the day table emptied and filled summed
-- from it (a view created by the earlier attempt adds the fill's rows to the day table
-- first; they are emptied with it), and the view is created last. Processes of this build
-- take the migration lock; stop rollup processes of older builds before upgrading.

CREATE TABLE IF NOT EXISTS rollup_list
(
    site String,
    day Int64,
    session_id String,
    device String,
    bot UInt8,
    feedback UInt8,
    rage UInt8,
    dead UInt8,
    channel String,
    referrer String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    browser String,
    os String,
    language String,
    sessions Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, session_id, device, bot, feedback, rage, dead, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language)
SETTINGS index_granularity = 512;

CREATE TABLE IF NOT EXISTS rollup_list_day
(
    site String,
    day Int64,
    device String,
    bot UInt8,
    feedback UInt8,
    rage UInt8,
    dead UInt8,
    channel String,
    referrer String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    browser String,
    os String,
    language String,
    sessions Int64
)
ENGINE = SummingMergeTree
PARTITION BY intDiv(day, 2592000000)
ORDER BY (site, day, device, bot, feedback, rage, dead, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language)
SETTINGS index_granularity = 256;

TRUNCATE TABLE rollup_list;

INSERT INTO rollup_list (site, day, session_id, device, bot, feedback, rage, dead, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language, sessions)
SELECT site, day, session_id, s.2 AS device, s.3 AS bot, toUInt8(s.4 > 0) AS feedback, d.3 AS rage, d.4 AS dead,
    s.5 AS channel, s.6 AS referrer, s.7 AS utm_source, s.8 AS utm_medium, s.9 AS utm_campaign, s.10 AS browser,
    s.11 AS os, s.12 AS language, toInt64(count()) AS sessions
FROM
(
    SELECT site, day, session_id, session_key,
        argMax((deleted, device, bot, feedback, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language), gen) AS s
    FROM rollup_sessions
    GROUP BY site, day, session_id, session_key
) AS live_sessions
ALL INNER JOIN
(
    SELECT site, day, session_id, session_key,
        argMax((deleted, toUInt8(length(page_page) > 0), toUInt8(arrayExists(x -> x > 0, page_rage_clicks)), toUInt8(arrayExists(x -> x > 0, page_dead_clicks))), gen) AS d
    FROM rollup_session_details
    GROUP BY site, day, session_id, session_key
) AS live_details
USING (site, day, session_id, session_key)
WHERE s.1 = 0 AND d.1 = 0 AND d.2 = 1
GROUP BY site, day, session_id, device, bot, feedback, rage, dead, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language;

TRUNCATE TABLE rollup_list_day;

INSERT INTO rollup_list_day (site, day, device, bot, feedback, rage, dead, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language, sessions)
SELECT site, day, device, bot, feedback, rage, dead, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language, sum(sessions) AS sessions
FROM rollup_list
GROUP BY site, day, device, bot, feedback, rage, dead, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_list_day_mv TO rollup_list_day AS
SELECT site, day, device, bot, feedback, rage, dead, channel, referrer, utm_source, utm_medium, utm_campaign, browser, os, language, sessions
FROM rollup_list;

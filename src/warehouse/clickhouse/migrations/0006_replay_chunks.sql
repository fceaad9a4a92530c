-- Session-replay chunks (src/replay), one row per stored part of a chunk, keyed and ordered
-- by (site, session_id, win, seq, part): a session's recording is one contiguous range of
-- the primary key. A part inserted twice (a retried chunk, a replay of the log) is folded
-- by the ReplacingMergeTree and ignored by reads (LIMIT 1 BY the key) before that.
-- `data` is the part's bytes of the chunk's gzip stream (compressed once, by Sightline),
-- `meta` the part's protobuf header without data (sightline.v1.ReplayChunk). No column
-- CODEC: Debian's 18.16 has no CODEC clause (it came with 19.1) and the data is gzip
-- already, so ZSTD on top would save little; on 19.1+ one may still run
-- `ALTER TABLE replay_chunks MODIFY COLUMN data String CODEC(ZSTD(3))` by hand.
-- `ts` is the receive time (ms): retention and site deletion delete by it, erasure by
-- visitor_id.
CREATE TABLE IF NOT EXISTS replay_chunks
(
    site String,
    session_id String,
    win String,
    seq UInt32,
    part UInt32,
    visitor_id String,
    ts Int64,
    day Date,
    meta String,
    data String
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, session_id, win, seq, part);

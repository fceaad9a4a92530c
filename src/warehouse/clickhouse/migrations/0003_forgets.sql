-- Visitors forgotten on request (src/privacy.rs): the audit record as JSON, with the SHA-256
-- of (site, visitor), never the visitor id; the latest `updated_at` wins (read with FINAL).
CREATE TABLE IF NOT EXISTS forgets
(
    id String,
    json String,
    updated_at UInt64
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;

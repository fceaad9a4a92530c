-- API tokens (src/access.rs) as JSON, the latest `updated_at` wins (read with FINAL). The
-- JSON holds the SHA-256 of the secret, never the secret.
CREATE TABLE IF NOT EXISTS api_tokens
(
    id String,
    json String,
    updated_at UInt64
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;

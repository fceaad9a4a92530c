//! [`DeadStage`]: which stage of the pipeline kept a dead letter.

use serde::{Deserialize, Serialize};

/// The pipeline stage that refused an input and kept it as a dead letter
/// ([`crate::log::DeadLetter`]). Stored and listed by its lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeadStage {
    /// A whole request refused as bad input (malformed, unknown site, origin, size, encoding,
    /// content type): `raw` is a sample of its body. Nothing to replay.
    Request,
    /// One event rejected by validation (or an id conflict): `raw` is its JSON, scrubbed.
    Ingest,
    /// An event the warehouse refused, or an undecodable log record: `raw` is `proto:<hex>`
    /// of the record (or the hex of the undecodable bytes).
    Sink,
}

impl DeadStage {
    /// Every stage, in pipeline order.
    pub const ALL: [DeadStage; 3] = [DeadStage::Request, DeadStage::Ingest, DeadStage::Sink];

    /// The stored and listed name: `request`, `ingest` or `sink`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadStage::Request => "request",
            DeadStage::Ingest => "ingest",
            DeadStage::Sink => "sink",
        }
    }

    /// Parse a stored name; `None` for anything else.
    pub fn parse(s: &str) -> Option<DeadStage> {
        DeadStage::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl std::fmt::Display for DeadStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_is_stored_and_serialized_by_its_name() {
        for s in DeadStage::ALL {
            assert_eq!(DeadStage::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(DeadStage::parse("other"), None);
    }
}

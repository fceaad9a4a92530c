//! Settings shared by the HTTP layer and the composition root.

/// Which stages this process runs (`--roles`). Several processes with different roles
/// share the work through the log's consumer groups and the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// `POST /v1/events`, the snippet and its config.
    pub ingest: bool,
    /// The log → warehouse sink.
    pub sink: bool,
    /// The rollup job.
    pub rollup: bool,
    /// The query and admin API.
    pub query: bool,
}

impl std::fmt::Display for Roles {
    /// `ingest,sink,rollup,query` (the roles this process runs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on: Vec<&str> = [
            (self.ingest, "ingest"),
            (self.sink, "sink"),
            (self.rollup, "rollup"),
            (self.query, "query"),
        ]
        .iter()
        .filter(|(b, _)| *b)
        .map(|(_, n)| *n)
        .collect();
        f.write_str(&on.join(","))
    }
}

impl Roles {
    /// Every stage.
    pub const ALL: Roles = Roles {
        ingest: true,
        sink: true,
        rollup: true,
        query: true,
    };
    const NONE: Roles = Roles {
        ingest: false,
        sink: false,
        rollup: false,
        query: false,
    };

    /// Parse `all` or a comma-separated list of `ingest`, `sink`, `rollup`, `query`.
    pub fn parse(s: &str) -> Result<Roles, String> {
        let mut r = Roles::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => r = Roles::ALL,
                "ingest" => r.ingest = true,
                "sink" => r.sink = true,
                "rollup" => r.rollup = true,
                "query" => r.query = true,
                other => return Err(format!("unknown role {other:?}; use all or ingest,sink,rollup,query")),
            }
        }
        if r == Roles::NONE {
            return Err("no role given".into());
        }
        Ok(r)
    }
}

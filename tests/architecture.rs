//! The layering of `src/`, checked: a module may import (`use crate::…`, or a `crate::x::…`
//! path anywhere in its code) only itself and the modules below it in [`ORDER`].
//!
//! ```text
//! config → model → stages (log → warehouse → … → ingest → … → rollup) → http → app → main
//! ```
//!
//! Lower comes first. Within the `stage` layer the order is the one the stages depend on
//! each other in, so there is no cycle anywhere: the log knows nothing of the warehouse, the
//! warehouse nothing of the rollups, and no stage knows the HTTP layer or the composition
//! root. Comments (doc links included) are not imports. `src/main.rs` and its `cli` module
//! (the command line) are the top and use the library through `sightline::`.
//!
//! A second test keeps every file under `src/` at most [`MAX_LINES`] lines.
//!
//! A new top-level module must be given a place in [`ORDER`]; the test names it otherwise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every top-level module of the library, lowest first, with its layer.
const ORDER: &[(&str, &str)] = &[
    // config: the settings every part reads, with their defaults.
    ("config", "config"),
    // model: the data every stage shares (events, records, rows, sites, surveys) and the
    // metrics registry each stage reports to. No I/O of its own.
    ("clock", "model"),
    ("event", "model"),
    ("model", "model"),
    ("survey", "model"),
    ("sites", "model"),
    ("metrics", "model"),
    // stages, in the order they may depend on each other.
    ("log", "stage"),
    ("replay", "stage"),
    ("warehouse", "stage"),
    ("privacy", "stage"),
    ("access", "stage"),
    ("sink", "stage"),
    ("ingest", "stage"),
    ("deadletters", "stage"),
    ("loadgen", "stage"),
    ("rollup", "stage"),
    ("import", "stage"),
    ("fuzzing", "stage"),
    // http: router, handlers, errors, auth.
    ("http", "http"),
    // app: the composition root (backends, tasks, serve).
    ("app", "app"),
    // testing: the in-process TestApp, a composition root for tests (feature `testing`).
    ("testing", "app"),
    // main: the binary's own modules (`src/main.rs` declares them), the command line only.
    ("cli", "main"),
];

/// No source file under `src/` is longer than this; a longer one is split along a seam
/// (a concept, a backend's client / writes / reads, its unit tests into `tests.rs`).
const MAX_LINES: usize = 600;

/// Imports against the layering that are known and still to be removed: (file, imported
/// module). Each entry must still be needed (the test fails on a stale one), so the list
/// only shrinks.
const ALLOWED: &[(&str, &str)] = &[];

fn rank(module: &str) -> Option<usize> {
    ORDER.iter().position(|(m, _)| *m == module)
}

fn layer(module: &str) -> &'static str {
    ORDER.iter().find(|(m, _)| *m == module).map(|(_, l)| *l).unwrap_or("?")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/ingest/compat/mod.rs` → `ingest`), or
/// `None` for the crate roots.
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.as_str() {
        "lib.rs" | "main.rs" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

/// The source without comments (a line whose text starts with `//`, and `/* … */` blocks),
/// line breaks kept so line numbers stay right. String literals are left alone.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut in_block = 0usize;
    for line in src.split_inclusive('\n') {
        let mut kept = String::new();
        let mut rest = line;
        loop {
            if in_block > 0 {
                match (rest.find("/*"), rest.find("*/")) {
                    (Some(o), Some(c)) if o < c => {
                        in_block += 1;
                        rest = &rest[o + 2..];
                    }
                    (_, Some(c)) => {
                        in_block -= 1;
                        rest = &rest[c + 2..];
                    }
                    _ => break,
                }
            } else if rest.trim_start().starts_with("//") {
                break;
            } else if let Some(o) = rest.find("/*").filter(|&o| !rest[..o].contains('"')) {
                kept.push_str(&rest[..o]);
                in_block += 1;
                rest = &rest[o + 2..];
            } else {
                kept.push_str(rest.trim_end_matches('\n'));
                break;
            }
        }
        out.push_str(&kept);
        if line.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Every `crate::…` import or path in `src`: (line, top-level module, the path as written).
fn crate_paths(src: &str) -> Vec<(usize, String, String)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = src[from..].find("crate::") {
        let at = from + i;
        from = at + "crate::".len();
        let before = src[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let line = src[..at].matches('\n').count() + 1;
        let rest = &src[from..];
        let mut shown = String::new();
        let mut depth = 0usize;
        for c in rest.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth > 0 => depth -= 1,
                ';' | '\n' => break,
                '(' | ')' | ' ' | ',' | ']' | '>' | '<' if depth == 0 => break,
                _ => {}
            }
            shown.push(c);
            if depth == 0 && c == '}' {
                break;
            }
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first name of each top-level item.
            let mut depth = 0usize;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_ascii_alphabetic() || c == '_') => {
                        item_start = false;
                        let name = ident_at(&group[j..]);
                        let line = line + group[..j].matches('\n').count();
                        found.push((line, name.to_string(), format!("crate::{name}")));
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                found.push((line, name.to_string(), format!("crate::{shown}")));
            }
        }
    }
    found
}

struct Violation {
    file: String,
    line: usize,
    from: String,
    to: String,
    path: String,
}

fn violations() -> (Vec<Violation>, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let mut found = Vec::new();
    let mut unplaced = BTreeSet::new();
    for path in files {
        let rel = path.strip_prefix(&root).unwrap();
        let Some(from) = module_of(rel) else { continue };
        if rank(&from).is_none() {
            unplaced.insert(from.clone());
            continue;
        }
        let src = strip_comments(&std::fs::read_to_string(&path).unwrap());
        for (line, to, shown) in crate_paths(&src) {
            match rank(&to) {
                None => {
                    unplaced.insert(to.clone());
                }
                Some(r) if r > rank(&from).unwrap() => found.push(Violation {
                    file: format!("src/{}", rel.display()),
                    line,
                    from: from.clone(),
                    to,
                    path: shown,
                }),
                Some(_) => {}
            }
        }
    }
    (found, unplaced.into_iter().collect())
}

#[test]
fn no_module_imports_a_higher_layer() {
    let (found, unplaced) = violations();
    assert!(
        unplaced.is_empty(),
        "modules without a place in ORDER (tests/architecture.rs): {unplaced:?}"
    );
    let mut errors = Vec::new();
    for v in &found {
        if !ALLOWED.contains(&(v.file.as_str(), v.to.as_str())) {
            errors.push(format!(
                "{}:{}: `{}` ({}) imports `{}` from `{}` ({}), a higher layer",
                v.file,
                v.line,
                v.from,
                layer(&v.from),
                v.path,
                v.to,
                layer(&v.to)
            ));
        }
    }
    for (file, to) in ALLOWED {
        if !found.iter().any(|v| v.file == *file && v.to == *to) {
            errors.push(format!("{file} no longer imports `{to}`: remove it from ALLOWED"));
        }
    }
    assert!(
        errors.is_empty(),
        "{} import(s) against the layering:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn no_source_file_is_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    let long: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("src/{} ({n} lines)", p.strip_prefix(&root).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}

#[test]
fn the_parser_sees_imports_and_skips_comments() {
    let src = "use crate::log::Log;\n// use crate::http::x;\n/// [`crate::app`]\nlet x = crate::rollup::DAY_MS;\nuse crate::{event, model::{Dims, Row}};\n/* crate::app */ $crate::nope";
    let got: Vec<(usize, String)> = crate_paths(&strip_comments(src))
        .into_iter()
        .map(|(l, m, _)| (l, m))
        .collect();
    let want: Vec<(usize, String)> = [(1, "log"), (4, "rollup"), (5, "event"), (5, "model")]
        .iter()
        .map(|(l, m)| (*l, m.to_string()))
        .collect();
    assert_eq!(got, want);
}

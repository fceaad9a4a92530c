//! The session-replay assets (issue 19): the recorder `snippet/replay.js` and the dashboard's
//! `dashboard/vendor/rrweb-player/` are the build of the packages `snippet/replay/package-lock.json`
//! pins (rebuilt and compared when `npm ci --prefix snippet/replay` was run), their READMEs name
//! those versions, the server serves them, and the core `/s.js` stays ≤ 10 KB minified and
//! gzipped (terser from `tests/e2e`).

mod common;
use common::*;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn pinned(pkg: &str) -> String {
    let lock: Value =
        serde_json::from_slice(&std::fs::read(root().join("snippet/replay/package-lock.json")).unwrap()).unwrap();
    lock["packages"][format!("node_modules/{pkg}")]["version"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_vendored_recorder_and_player_are_the_pinned_packages_build() {
    let (rrweb, player) = (pinned("rrweb"), pinned("rrweb-player"));
    let recorder = std::fs::read_to_string(root().join("snippet/replay.js")).unwrap();
    assert!(
        recorder.starts_with(&format!("/*! Sightline replay recorder; includes rrweb {rrweb} (MIT")),
        "banner"
    );
    let readme = std::fs::read_to_string(root().join("snippet/replay/README.md")).unwrap();
    assert!(
        readme.contains(&format!("rrweb {rrweb}")) && readme.contains(&format!("rrweb-player {player}")),
        "snippet/replay/README.md versions"
    );
    let dash = std::fs::read_to_string(root().join("dashboard/README.md")).unwrap();
    assert!(
        dash.contains(&format!("rrweb-player {player}")),
        "dashboard/README.md names another rrweb-player"
    );
    if !root().join("snippet/replay/node_modules/rrweb").exists() {
        eprintln!(
            "snippet/replay/node_modules missing: the rebuild comparison is skipped (npm ci --prefix snippet/replay)"
        );
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("node")
        .arg(root().join("snippet/replay/build.mjs"))
        .env("REPLAY_BUILD_ROOT", out.path())
        .status()
        .unwrap();
    assert!(status.success());
    for f in [
        "snippet/replay.js",
        "dashboard/vendor/rrweb-player/rrweb-player.js",
        "dashboard/vendor/rrweb-player/style.css",
    ] {
        assert!(
            std::fs::read(out.path().join(f)).unwrap() == std::fs::read(root().join(f)).unwrap(),
            "{f} is not the build of the pinned packages"
        );
    }
}

#[test]
fn the_core_snippet_stays_under_10_kb_and_the_assets_are_served() {
    let terser = root().join("tests/e2e/node_modules/.bin/terser");
    assert!(terser.exists(), "npm ci --prefix tests/e2e (scripts/test does it)");
    let min = Command::new(&terser)
        .arg(root().join("snippet/sightline.js"))
        .args(["--compress", "--mangle"])
        .output()
        .unwrap();
    assert!(min.status.success());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&min.stdout).unwrap();
    let size = gz.finish().unwrap().len();
    assert!(size <= 10_240, "core /s.js is {size} B minified + gzipped, over 10 KB");

    let s = Server::start(&[]);
    let r = s.http.get(s.url("/s/replay.js")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        r.text().unwrap(),
        std::fs::read_to_string(root().join("snippet/replay.js")).unwrap()
    );
    for f in ["rrweb-player.js", "style.css", "LICENSE"] {
        let r = s
            .http
            .get(s.url(&format!("/dashboard/vendor/rrweb-player/{f}")))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{f}");
    }
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use lens_server::server::{AppState, router};
use tower::ServiceExt;

pub fn lens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lens"))
}

pub fn run(args: &[&str]) -> Output {
    lens().args(args).output().expect("lens runs")
}

pub fn index(paths: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let mut c = lens();
    c.arg("index")
        .args(paths)
        .arg("--out")
        .arg(out)
        .args(extra)
        .arg("--quiet");
    // Embedding is Stage-C's business; other tests index without it (auto would embed small trees).
    if !extra.contains(&"--embed") {
        c.args(["--embed", "off"]);
    }
    let o = c.output().expect("lens index runs");
    assert!(
        o.status.success(),
        "index failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A crate's source directory from the local cargo registry (present wherever
/// this workspace has been built).
pub fn registry_crate(prefix: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo"));
    let src = home.join("registry").join("src");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .flatten()
        .flat_map(|index| {
            std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("no {prefix}* crate under {}", src.display()))
}

pub fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// GET `uri` from a router over `st` (as a loopback client); asserts success, returns the JSON.
pub async fn get(st: &Arc<AppState>, uri: &str) -> serde_json::Value {
    let resp = router(st.clone())
        .oneshot(
            Request::get(uri)
                .header("x-forwarded-for", "127.0.0.1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status.is_success(),
        "{uri}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

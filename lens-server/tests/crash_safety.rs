//! `kill -9` during a build leaves the previous bundle (or none) in place.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{index, lens, run, write};

fn big_tree(root: &Path) {
    // ~40 MB of varied text so that a build takes long enough to be killed midway.
    for i in 0..4000 {
        let mut s = String::with_capacity(10_000);
        for j in 0..200 {
            s.push_str(&format!(
                "fn item_{i}_{j}(x: u64) -> u64 {{ x.wrapping_mul({}) ^ {j} }}\n",
                i * 7 + j
            ));
        }
        write(root, &format!("d{}/f{i}.rs", i % 40), s.as_bytes());
    }
}

fn temp_dir_of(out: &Path, pid: u32) -> PathBuf {
    out.with_file_name(format!(
        ".{}.tmp-{pid}",
        out.file_name().unwrap().to_string_lossy()
    ))
}

/// Starts a build and SIGKILLs it once its temporary bundle has content.
fn kill_midway(src: &Path, out: &Path) -> PathBuf {
    let mut child = lens()
        .arg("index")
        .arg(src)
        .arg("--out")
        .arg(out)
        .args(["--quiet", "--embed", "off"])
        .spawn()
        .unwrap();
    let tmp = temp_dir_of(out, child.id());
    let started = Instant::now();
    loop {
        let written = std::fs::metadata(tmp.join("content.bin"))
            .map(|m| m.len())
            .unwrap_or(0);
        if written > 1_000_000 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "build finished before it could be killed; make the tree bigger"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "build never started writing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    tmp
}

#[test]
fn killed_build_keeps_previous_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    write(&small, "a.rs", b"fn previous_bundle_marker() {}\n");
    let out = dir.path().join("bundle");
    index(&[&small], &out, &[]);
    let before = std::fs::read(out.join("manifest.json")).unwrap();

    let big = dir.path().join("big");
    big_tree(&big);
    let tmp = kill_midway(&big, &out);
    assert!(
        tmp.exists(),
        "the killed build's temporary directory is left behind"
    );
    assert_eq!(
        std::fs::read(out.join("manifest.json")).unwrap(),
        before,
        "previous bundle untouched"
    );
    let o = run(&[
        "search",
        "--bundle",
        out.to_str().unwrap(),
        "previous_bundle_marker",
    ]);
    assert!(
        o.status.success(),
        "previous bundle still verifies and serves: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The next build replaces it and clears the stale temporary directory.
    index(&[&big], &out, &[]);
    assert!(!tmp.exists());
    let o = run(&["search", "--bundle", out.to_str().unwrap(), "item_3999_199"]);
    assert!(o.status.success());
}

#[test]
fn killed_first_build_leaves_no_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    big_tree(&big);
    let out = dir.path().join("bundle");
    kill_midway(&big, &out);
    assert!(!out.exists());
}

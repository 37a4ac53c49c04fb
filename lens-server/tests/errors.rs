//! Bad input is a clear message and a non-zero exit, never a panic.

use std::path::Path;

use crate::common::{index, run, stderr, write};

fn small_bundle(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src");
    write(&src, "a.rs", b"fn alpha() {}\nfn beta() { alpha(); }\n");
    write(&src, "sub/b.py", b"def alpha():\n    return 1\n");
    let bundle = dir.join("bundle");
    index(&[&src], &bundle, &[]);
    bundle
}

fn assert_fails_with(args: &[&str], needles: &[&str]) {
    let o = run(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn invalid_regex_names_position_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let b = small_bundle(dir.path());
    let b = b.to_str().unwrap();
    assert_fails_with(
        &["search", "--bundle", b, "-e", "foo(bar"],
        &["invalid regex", "foo(bar", "at byte 3", "unclosed group"],
    );
    assert_fails_with(
        &["search", "--bundle", b, "x /a[b/"],
        &["invalid regex", "at byte 4", "unclosed character class"],
    );
    assert_fails_with(
        &["search", "--bundle", b, "(alpha"],
        &["invalid query", "unclosed '('"],
    );
    assert_fails_with(&["search", "--bundle", b, "-e", r"a\nb"], &["not allowed"]);
    assert_fails_with(
        &["search", "--bundle", b, "-g", "[", "-e", "a"],
        &["invalid glob"],
    );
}

#[test]
fn missing_bundle_is_named() {
    assert_fails_with(
        &["search", "--bundle", "/nonexistent/bundle", "alpha"],
        &["no bundle at /nonexistent/bundle"],
    );
}

#[test]
fn unreadable_index_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "index",
        "/nonexistent/src",
        "--out",
        dir.path().join("b").to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/src is not a directory"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("b").exists());
}

#[test]
fn refuses_to_replace_a_directory_that_is_not_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(&src, "a.rs", b"fn a() {}\n");
    write(&dir.path().join("precious"), "data.txt", b"keep me\n");
    let o = run(&[
        "index",
        src.to_str().unwrap(),
        "--out",
        dir.path().join("precious").to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is not a lens bundle"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(dir.path().join("precious/data.txt")).unwrap(),
        b"keep me\n"
    );
}

#[test]
fn one_flipped_byte_in_any_file_is_caught_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = small_bundle(dir.path());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    let mut files: Vec<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    files.push("manifest.json".into());
    files.push("manifest.xxh3".into());
    assert!(files.len() >= 8, "{files:?}");
    for f in &files {
        let path = bundle.join(f);
        let original = std::fs::read(&path).unwrap();
        if original.is_empty() {
            continue;
        }
        let mut flipped = original.clone();
        let at = flipped.len() / 2;
        flipped[at] ^= 0x01;
        std::fs::write(&path, &flipped).unwrap();
        let o = run(&["search", "--bundle", bundle.to_str().unwrap(), "alpha"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{f}: {err}");
        assert!(err.contains("corrupt bundle"), "{f}: {err}");
        let named = if f == "manifest.xxh3" {
            "manifest.json"
        } else {
            f.as_str()
        };
        assert!(err.contains(named), "{f}: {err}");
        std::fs::write(&path, &original).unwrap();
    }
    // A listed file that is gone (the sparse n-gram postings here) is named too.
    assert!(files.iter().any(|f| f == "ngram.sparse.post"), "{files:?}");
    let sparse = bundle.join("ngram.sparse.post");
    let original = std::fs::read(&sparse).unwrap();
    std::fs::remove_file(&sparse).unwrap();
    let o = run(&["search", "--bundle", bundle.to_str().unwrap(), "alpha"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ngram.sparse.post") && err.contains("missing"),
        "{err}"
    );
    std::fs::write(&sparse, &original).unwrap();
    // Restored, it serves again.
    assert!(
        run(&["search", "--bundle", bundle.to_str().unwrap(), "alpha"])
            .status
            .success()
    );
}

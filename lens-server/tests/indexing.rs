//! Walk options, recorded skips, naming, filters and batch mode.

use std::path::Path;

use crate::common::{index, lens, run, write};

fn manifest(bundle: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap()
}

fn paths(bundle: &Path, query: &str) -> Vec<String> {
    let o = run(&[
        "search",
        "--bundle",
        bundle.to_str().unwrap(),
        "--json",
        "--exhaustive",
        query,
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut p: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["path"].as_str().unwrap().to_string())
        .collect();
    p.dedup();
    p
}

fn tree(root: &Path) {
    write(root, ".gitignore", b"ignored/\n*.log\n");
    write(root, "src/main.rs", b"fn needle() {}\n");
    write(root, "ignored/x.rs", b"needle\n");
    write(root, "debug.log", b"needle\n");
    write(root, ".hidden/h.rs", b"needle\n");
    write(root, "bin/blob.dat", b"needle\0binary\n");
    write(root, "big.txt", &b"needle ".repeat(40));
    write(root, "py/m.py", b"def needle():\n    pass\n");
    std::os::unix::fs::symlink("/etc/hostname", root.join("link.txt")).unwrap();
}

#[test]
fn ignore_files_hidden_files_and_skips() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("proj");
    tree(&src);
    let b = dir.path().join("b1");
    index(&[&src], &b, &["--max-file-size", "100"]);
    assert_eq!(paths(&b, "needle"), vec!["src/main.rs", "py/m.py"]);
    let m = manifest(&b);
    let skipped: Vec<(String, String)> = m["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        vec![
            ("big.txt".into(), "too_large".into()),
            ("bin/blob.dat".into(), "binary".into())
        ]
    );
    assert_eq!(m["counts"]["skipped_by_reason"]["binary"], 1);
    assert_eq!(m["sources"][0]["name"], "proj");

    let b2 = dir.path().join("b2");
    index(
        &[&src],
        &b2,
        &["--no-ignore", "--hidden", "--max-file-size", "0"],
    );
    let mut all = paths(&b2, "needle");
    all.sort();
    assert_eq!(
        all,
        vec![
            ".hidden/h.rs",
            "big.txt",
            "debug.log",
            "ignored/x.rs",
            "py/m.py",
            "src/main.rs"
        ]
    );
    assert_eq!(paths(&b2, "needle lang:python"), vec!["py/m.py"]);
    assert_eq!(
        paths(&b2, "needle -file:\\.rs$ -file:log"),
        // py/m.py defines `needle`: Stage-B ranks the definition first.
        vec!["py/m.py", "big.txt"]
    );
}

#[test]
fn named_repositories_and_repo_filter() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("one"), "a.c", b"int shared_symbol;\n");
    write(&dir.path().join("two"), "b.c", b"int shared_symbol;\n");
    let b = dir.path().join("b");
    let one = format!("first={}", dir.path().join("one").display());
    let two = dir.path().join("two");
    let o = lens()
        .args(["index", &one])
        .arg(&two)
        .arg("--out")
        .arg(&b)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = run(&[
        "search",
        "--bundle",
        b.to_str().unwrap(),
        "--json",
        "shared_symbol repo:^first$",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hits = v["results"].as_array().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["repo"], "first");
    assert_eq!(hits[0]["language"], "c");
    let o = lens()
        .args([
            "index",
            &one,
            &format!("first={}", two.display()),
            "--out",
            "/tmp/never",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("two repositories are named \"first\""));
}

#[test]
fn batch_runs_both_forms_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("s");
    write(&src, "a.rs", b"fn Alpha() {}\nlet alpha = 1;\n");
    let b = dir.path().join("b");
    index(&[&src], &b, &[]);
    let batch = dir.path().join("q.jsonl");
    std::fs::write(
        &batch,
        concat!(
            r#"{"id": 1, "query": "alpha"}"#, "\n",
            r#"{"id": "two", "pattern": "alpha", "flags": {"case_insensitive": false}}"#, "\n",
            r#"{"id": 3, "pattern": "ALPHA", "flags": {"case_insensitive": true, "word": true, "globs": ["*.rs"]}}"#, "\n",
            r#"{"id": 4, "pattern": "("}"#, "\n",
        ),
    )
    .unwrap();
    let o = lens()
        .args([
            "search",
            "--bundle",
            b.to_str().unwrap(),
            "--batch",
            batch.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "a failed line makes the exit non-zero"
    );
    let lines: Vec<serde_json::Value> = o
        .stdout
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0]["results"].as_array().unwrap().len(),
        2,
        "case:auto folds a lower-case term"
    );
    assert_eq!(lines[1]["results"].as_array().unwrap().len(), 1);
    assert_eq!(lines[1]["id"], "two");
    assert_eq!(lines[2]["results"].as_array().unwrap().len(), 2);
    assert!(lines[0]["stats"]["elapsed_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[3]["error"]["code"], "invalid_regex");
}

/// `--no-sparse-grams` builds trigrams alone: no sparse files, none in the
/// manifest, and the same answers as the default bundle.
#[test]
fn no_sparse_grams_builds_trigrams_alone_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    for i in 0..40 {
        let body = format!(
            "int table_version_{i}(void) {{ return rate_limit_burst + {i}; }}\nstatic int able_v, e_verc;\n"
        );
        write(&src, &format!("f{i}.c"), body.as_bytes());
    }
    let with = dir.path().join("with");
    let without = dir.path().join("without");
    assert!(index(&[&src], &with, &[]).status.success());
    let o = index(&[&src], &without, &["--no-sparse-grams"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        manifest(&with)["build"]["sparse_grams"]["grams"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(manifest(&without)["build"].get("sparse_grams").is_none());
    assert!(with.join("ngram.sparse.post").is_file());
    assert!(!without.join("ngram.sparse.dict").exists());
    assert!(!without.join("ngram.sparse.post").exists());
    for q in [
        "case:yes \"table_version_1\"",
        "\"rate_limit_burst\"",
        "/table_version_\\d+\\(/",
        "\"able_v, e_ver\"",
    ] {
        let a = paths(&with, q);
        assert!(!a.is_empty(), "{q}");
        assert_eq!(a, paths(&without, q), "{q}");
    }
}

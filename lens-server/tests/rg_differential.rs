//! lens's exhaustive results equal `rg --json` over the same real trees.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::common::{index, lens, registry_crate};

type Key = (String, u64, u64, u64);

fn rg(root: &Path, args: &[&str]) -> BTreeSet<Key> {
    let out = Command::new("rg")
        .args([
            "--no-config",
            "--no-ignore",
            "--hidden",
            "--encoding",
            "none",
            "--json",
        ])
        .args(args)
        .arg(".")
        .current_dir(root)
        .output()
        .expect("rg is installed (.ci/run installs ripgrep)");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "rg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut set = BTreeSet::new();
    for line in out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        if v["type"] != "match" {
            continue;
        }
        let d = &v["data"];
        let path = d["path"]["text"]
            .as_str()
            .expect("utf-8 path")
            .trim_start_matches("./")
            .to_string();
        let line_no = d["line_number"].as_u64().unwrap();
        for m in d["submatches"].as_array().unwrap() {
            set.insert((
                path.clone(),
                line_no,
                m["start"].as_u64().unwrap(),
                m["end"].as_u64().unwrap(),
            ));
        }
    }
    set
}

fn lens_search(bundle: &Path, args: &[&str]) -> BTreeSet<Key> {
    let out = lens()
        .arg("search")
        .arg("--bundle")
        .arg(bundle)
        .args(["--json", "--exhaustive"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "lens failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stats"]["truncated"], false, "{args:?}");
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["path"].as_str().unwrap().to_string(),
                h["line"].as_u64().unwrap(),
                h["start"].as_u64().unwrap(),
                h["end"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// (lens/rg flags) pairs; the same flags mean the same thing to both.
const QUERIES: &[&[&str]] = &[
    &["-e", "fn"],
    &["-F", "-e", "pub fn new("],
    &["-e", r"impl\s+\w+\s+for"],
    &["-i", "-e", "unicode"],
    &["-w", "-e", "Error"],
    &["-w", "-i", "-e", "self"],
    &["-e", r"^\s*//!"],
    &["-e", r"\)$"],
    &["-e", r"[A-Z][a-z]+[A-Z]\w*"],
    &["-e", r"\bcase_insensitive\b"],
    &["-e", r"(?:Look|Class)(?:Unicode|Bytes)"],
    &["-e", r"\d{3,}"],
    &["-e", r"\p{Greek}+"],
    &["-e", r"é|ß|\x{212A}"],
    &["-i", "-e", "k"],
    &["-e", r"u8|u16|u32"],
    &["-g", "*.rs", "-e", "unsafe"],
    &["-g", "!src/**", "-e", "unsafe"],
    &["-g", "*.md", "-g", "*.toml", "-e", "regex"],
    &["-g", "!*.rs", "-F", "-e", "."],
    &["-e", "TODO|FIXME|XXX"],
    &["-F", "-i", "-e", "HIR"],
    &["-e", r"[^\x00-\x7F]"],
    &["-e", r"\S+\s+=\s+\S+;$"],
];

fn compare_tree(root: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    index(
        &[root],
        &bundle,
        &["--no-ignore", "--hidden", "--max-file-size", "0"],
    );
    let mut total = 0;
    for q in QUERIES {
        let expected = rg(root, q);
        let got = lens_search(&bundle, q);
        let missing: Vec<_> = expected.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&expected).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{q:?} on {}: missing {missing:?} extra {extra:?}",
            root.display()
        );
        total += expected.len();
    }
    assert!(
        total > 1000,
        "the queries should find plenty on a real tree, found {total}"
    );
}

#[test]
fn equals_ripgrep_on_regex_syntax_sources() {
    compare_tree(&registry_crate("regex-syntax-0.8"));
}

#[test]
fn equals_ripgrep_on_tantivy_sources() {
    compare_tree(&registry_crate("tantivy-0.27"));
}

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
    matches_of_json_lines(&out.stdout)
}

/// The (path, line, start, end) of every submatch of rg's JSON Lines.
fn matches_of_json_lines(stdout: &[u8]) -> BTreeSet<Key> {
    let mut set = BTreeSet::new();
    for line in stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
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
    // lens's grep form prints rg's JSON Lines: the same parser reads both.
    matches_of_json_lines(&out.stdout)
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

/// `lens search` prints what `rg --sort path` prints, byte for byte, for
/// each output flag both have, on a real tree (a bundle of one repository
/// names paths from its root, as rg does run there).
#[test]
fn prints_as_ripgrep_for_every_output_flag() {
    let root = registry_crate("regex-syntax-0.8");
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    index(
        &[&root],
        &bundle,
        &["--no-ignore", "--hidden", "--max-file-size", "0"],
    );
    let patterns: &[&[&str]] = &[
        &["-e", r"impl\s+\w+\s+for"],
        &["-F", "-e", "pub fn new("],
        &["-i", "-w", "-e", "unicode"],
        &["-g", "*.md", "-e", "regex"],
    ];
    let outputs: &[&[&str]] = &[
        &[],
        &["-n"],
        &["-N"],
        &["-n", "--column"],
        &["-C", "2", "-n"],
        &["-A", "1"],
        &["-B", "3", "-n"],
        &["--heading", "-n"],
        &["--heading", "-C", "1"],
        &["-l"],
        &["-c"],
        &["--count-matches"],
        &["--vimgrep"],
        &["-o", "-n"],
        &["--color", "always", "-n", "--column"],
        &["--color", "always", "--heading", "-n", "-C", "1"],
        &["--json"],
        &["--json", "-C", "1"],
    ];
    // Per-file and total times and printed-byte counts are the tools' own.
    let timeless = |out: &[u8], json: bool| -> String {
        let text = String::from_utf8_lossy(out).to_string();
        if !json {
            return text;
        }
        text.lines()
            .filter(|l| !l.starts_with(r#"{"data":{"elapsed_total""#))
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                if let Some(st) = v["data"].get_mut("stats") {
                    st["elapsed"] = serde_json::Value::Null;
                    st["bytes_printed"] = serde_json::Value::Null;
                }
                v.to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut compared = 0;
    for p in patterns {
        for o in outputs {
            let rg = Command::new("rg")
                .args(["--no-config", "--no-ignore", "--hidden", "--sort", "path"])
                .args(*o)
                .args(*p)
                .current_dir(&root)
                .output()
                .unwrap();
            let lens = lens()
                .arg("search")
                .args(*o)
                .args(*p)
                .env("LENS_BUNDLE", &bundle)
                .output()
                .unwrap();
            let json = o.contains(&"--json");
            let (want, got) = (timeless(&rg.stdout, json), timeless(&lens.stdout, json));
            if want != got {
                let at = want
                    .bytes()
                    .zip(got.bytes())
                    .position(|(a, b)| a != b)
                    .unwrap_or(want.len().min(got.len()));
                panic!(
                    "{o:?} {p:?}: lens differs from rg at byte {at}:\nrg:   {:?}\nlens: {:?}",
                    &want[at.saturating_sub(80)..(at + 80).min(want.len())],
                    &got[at.saturating_sub(80)..(at + 80).min(got.len())],
                );
            }
            assert_eq!(lens.status.code(), rg.status.code(), "{o:?} {p:?}");
            assert!(!want.is_empty(), "{o:?} {p:?} found nothing");
            compared += want.len();
        }
    }
    assert!(compared > 100_000, "{compared} bytes compared");
    // No match: exit code 1 and nothing printed, as rg.
    let none = lens()
        .args(["search", "-e", "no_such_thing_anywhere_42"])
        .env("LENS_BUNDLE", &bundle)
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    assert!(none.stdout.is_empty());
}

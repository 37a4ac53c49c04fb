//! The gates that read release artifacts rather than search: semver,
//! release notes, dependencies (licences, advisories, the SBOM), and the
//! labelled-set loader's errors. Compatibility needs release records made
//! from a real bundle's manifest: it is in `gates.rs`.

use std::path::Path;

use lens_core::release::Version;
use lens_core::release::version::Identifier;
use validation::gates::{self, GateStatus, LabelledError, LabelledSet};
use validation::sbom::{self, Dependency};

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

#[test]
fn semver_needs_a_strictly_newer_valid_version() {
    let pass = gates::semver(&v("1.0.0-rc.1"), &v("0.9.3"));
    assert_eq!(pass.status, GateStatus::Pass, "{pass:?}");
    assert_eq!(pass.evidence["order"], "newer");
    assert_eq!(pass.evidence["candidate_prerelease"], true);
    assert!(gates::semver(&v("1.0.0-rc.2"), &v("1.0.0-rc.1")).passed());
    assert!(gates::semver(&v("1.0.0"), &v("1.0.0-rc.9")).passed());
    assert!(gates::semver(&v("1.0.0-rc.10"), &v("1.0.0-rc.9")).passed());

    let same = gates::semver(&v("1.0.0-rc.1"), &v("1.0.0-rc.1+build.7"));
    assert_eq!(same.status, GateStatus::Fail);
    assert!(
        same.reason.as_deref().unwrap().contains("not newer"),
        "{same:?}"
    );
    assert_eq!(same.evidence["order"], "equal");
    // A pre-release precedes its release.
    let older = gates::semver(&v("1.0.0-rc.1"), &v("1.0.0"));
    assert_eq!(older.status, GateStatus::Fail);
    assert_eq!(older.evidence["order"], "older");

    let mut bad = v("1.1.0");
    bad.pre = vec![Identifier::Alpha(String::new())];
    let invalid = gates::semver(&bad, &v("1.0.0"));
    assert_eq!(invalid.status, GateStatus::Fail);
    assert!(
        invalid
            .reason
            .as_deref()
            .unwrap()
            .contains("not valid semver"),
        "{invalid:?}"
    );
}

fn notes(dir: &Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("UPGRADE.md");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn release_notes_need_a_section_for_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let rc1 = v("1.0.0-rc.1");

    let missing = dir.path().join("UPGRADE.md");
    let g = gates::release_notes(&missing, &rc1);
    assert_eq!(g.status, GateStatus::Fail);
    let reason = g.reason.unwrap();
    assert!(reason.contains(&missing.display().to_string()), "{reason}");
    assert_eq!(g.evidence["exists"], false);

    let p = notes(
        dir.path(),
        "# Upgrading lens\n\n## 0.9.0\n\nOld notes.\n\n```md\n## 1.0.0-rc.1\n```\n\n## 1.0.0-rc.2\n",
    );
    let g = gates::release_notes(&p, &rc1);
    assert_eq!(
        g.status,
        GateStatus::Fail,
        "a heading in a code block or another rc is not it: {g:?}"
    );
    assert!(
        g.reason
            .as_deref()
            .unwrap()
            .contains("no section for 1.0.0-rc.1")
    );
    assert_eq!(g.evidence["headings"][1], "0.9.0");

    for text in [
        "# Upgrading\n\n## 1.0.0-rc.1\n\nSteps.\n",
        "## v1.0.0-rc.1\n",
        "### [1.0.0-rc.1] - 2026-12-01\n",
        "## 1.0.0\n\nThe release and its candidates.\n",
    ] {
        let p = notes(dir.path(), text);
        let g = gates::release_notes(&p, &rc1);
        assert_eq!(g.status, GateStatus::Pass, "{text:?}: {g:?}");
        assert!(g.evidence["section"]["line"].as_u64().unwrap() >= 1);
    }
    // The exact version's section wins over its release's.
    let p = notes(dir.path(), "## 1.0.0\n\n## 1.0.0-rc.1\n");
    let g = gates::release_notes(&p, &rc1);
    assert_eq!(g.evidence["section"]["line"], 3);
    assert_eq!(g.evidence["section"]["names"], "version");

    assert_eq!(
        gates::release_notes_path(Path::new("/repo"), None),
        Path::new("/repo/UPGRADE.md")
    );
    assert_eq!(
        gates::release_notes_path(Path::new("/repo"), Some(Path::new("docs/UPGRADE.md"))),
        Path::new("/repo/docs/UPGRADE.md")
    );
    assert_eq!(
        gates::release_notes_path(Path::new("/repo"), Some(Path::new("/etc/UPGRADE.md"))),
        Path::new("/etc/UPGRADE.md")
    );
}

#[test]
fn the_embedded_dependency_list_and_its_sbom() {
    let deps = sbom::dependencies();
    assert!(deps.len() > 50, "{}", deps.len());
    let serde = deps.iter().find(|d| d.name == "serde").expect("serde");
    assert!(serde.is_registry());
    assert!(serde.version.starts_with("1."), "{serde:?}");
    // validation's own dependencies were compiled for this test: their sources are on disk.
    assert!(serde.sources_found, "{serde:?}");
    assert_eq!(serde.license, Some("MIT OR Apache-2.0"));
    let core = deps
        .iter()
        .find(|d| d.name == "lens-core")
        .expect("lens-core");
    assert!(core.is_workspace());
    assert_eq!(core.license, Some("MIT"), "inherited from the workspace");

    let bom = sbom::cyclonedx(deps);
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert!(bom["specVersion"].is_string());
    let components = bom["components"].as_array().unwrap();
    assert_eq!(components.len(), deps.len());
    let c = components.iter().find(|c| c["name"] == "serde").unwrap();
    assert_eq!(c["purl"], format!("pkg:cargo/serde@{}", serde.version));
    assert_eq!(c["licenses"][0]["expression"], "MIT OR Apache-2.0");

    // No licence this build read is outside the allow-list.
    let check = sbom::check_licences(deps);
    assert!(check.disallowed.is_empty(), "{:?}", check.disallowed);
    let g = gates::dependencies(deps, Some(Path::new("/nonexistent/advisory-db")));
    eprintln!("{}", serde_json::to_string_pretty(&g).unwrap());
    assert_ne!(g.status, GateStatus::Fail, "{g:?}");
}

fn dep(name: &'static str, license: Option<&'static str>, sources_found: bool) -> Dependency {
    Dependency {
        name,
        version: "1.0.0",
        source: Some("registry+https://github.com/rust-lang/crates.io-index"),
        license,
        sources_found,
    }
}

#[test]
fn a_disallowed_licence_fails_dependencies() {
    let no_db = Some(Path::new("/nonexistent/advisory-db"));
    let clean = [
        dep("a", Some("MIT OR Apache-2.0"), true),
        dep("b", Some("Apache-2.0 WITH LLVM-exception OR MIT"), true),
        dep("c", Some("MIT/Apache-2.0"), true),
        dep("d", Some("(MIT OR Apache-2.0) AND Unicode-3.0"), true),
        // Not compiled on this host (another target's dependency): listed only.
        dep("windows-only", None, false),
        Dependency {
            name: "ours",
            version: "0.1.0",
            source: None,
            license: None,
            sources_found: true,
        },
    ];
    let g = gates::dependencies(&clean, no_db);
    assert_eq!(g.status, GateStatus::Pass, "{g:?}");
    assert_eq!(g.evidence["not_built_here"][0], "windows-only@1.0.0");
    assert_eq!(g.evidence["unknown_workspace_licence"][0], "ours@0.1.0");
    let adv = g.evidence["advisories"].as_str().unwrap();
    assert!(
        adv.starts_with("skipped: no advisory database at /nonexistent/advisory-db"),
        "{adv}"
    );

    let mut planted = clean.to_vec();
    planted.push(dep("copyleft", Some("GPL-3.0-only"), true));
    planted.push(dep("both", Some("MIT AND AGPL-3.0"), true));
    let g = gates::dependencies(&planted, no_db);
    assert_eq!(g.status, GateStatus::Fail);
    let reason = g.reason.unwrap();
    assert!(reason.contains("copyleft@1.0.0: GPL-3.0-only"), "{reason}");
    assert!(reason.contains("both@1.0.0: MIT AND AGPL-3.0"), "{reason}");
    assert_eq!(g.value, Some(2.0));

    // Sources on disk but no `license` field: someone must read the licence file.
    let mut unknown = clean.to_vec();
    unknown.push(dep("license-file-only", None, true));
    let g = gates::dependencies(&unknown, no_db);
    assert_eq!(g.status, GateStatus::Fail);
    assert!(g.reason.unwrap().contains("license-file-only@1.0.0"));

    // No registry sources at all: the licences could not be read.
    let g = gates::dependencies(&[dep("x", None, false)], no_db);
    assert_eq!(g.status, GateStatus::Skipped, "{g:?}");
    assert_eq!(gates::dependencies(&[], no_db).status, GateStatus::Skipped);
}

fn advisory(db: &Path, krate: &str, id: &str, extra: &str, patched: &str) {
    let dir = db.join("crates").join(krate);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{id}.md")),
        format!(
            "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{krate}\"\ndate = \"2026-01-01\"\n{extra}\n\n[versions]\npatched = [\n    {patched}\n]\n```\n\n# Title\n\nText.\n"
        ),
    )
    .unwrap();
}

#[test]
fn an_offline_advisory_database_is_checked_when_present() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path();
    let deps = [
        dep("safe", Some("MIT"), true),
        dep("risky", Some("MIT"), true),
    ];
    std::fs::create_dir_all(db.join("crates")).unwrap();
    // Patched in the version we have: no finding.
    advisory(db, "safe", "RUSTSEC-2026-0001", "", "\">= 0.9.0\"");
    advisory(
        db,
        "risky",
        "RUSTSEC-2026-0002",
        "informational = \"unmaintained\"",
        "",
    );
    let g = gates::dependencies(&deps, Some(db));
    assert_eq!(g.status, GateStatus::Pass, "{g:?}");
    assert_eq!(g.evidence["advisories"]["advisories_read"], 2);
    assert_eq!(
        g.evidence["advisories"]["warnings"][0]["id"],
        "RUSTSEC-2026-0002"
    );

    advisory(
        db,
        "risky",
        "RUSTSEC-2026-0003",
        "",
        "\">= 1.0.1\", \"^0.9.5\"",
    );
    let g = gates::dependencies(&deps, Some(db));
    assert_eq!(g.status, GateStatus::Fail, "{g:?}");
    assert!(
        g.reason
            .unwrap()
            .contains("RUSTSEC-2026-0003 (risky@1.0.0)")
    );
    assert_eq!(
        g.evidence["advisories"]["vulnerable"][0]["package"],
        "risky"
    );
}

#[test]
fn labelled_sets_load_in_the_cosqa_layout_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = LabelledSet::load(d).unwrap_err();
    assert!(matches!(err, LabelledError::Missing { .. }), "{err}");
    assert!(
        err.to_string().contains("queries.jsonl, queries.dev.jsonl"),
        "{err}"
    );

    std::fs::write(
        d.join("queries.dev.jsonl"),
        "{\"query_id\": \"q0\", \"query\": \"how to add numbers\"}\n\n{\"query_id\": \"q1\", \"query\": \"sort a list\"}\n{\"query_id\": \"q2\", \"query\": \"unjudged\"}\n",
    )
    .unwrap();
    let err = LabelledSet::load(d).unwrap_err();
    assert!(matches!(err, LabelledError::Missing { .. }), "{err}");

    std::fs::write(
        d.join("qrels.dev.tsv"),
        "query_id\tdoc_id\trelevance\nq0\td0\t1\nq1 d1 2\nq1 d2 0\n",
    )
    .unwrap();
    let set = LabelledSet::load(d).unwrap();
    assert_eq!(set.queries.len(), 3);
    assert_eq!(set.qrels["q1"]["d1"], 2);
    let judged = set.judged();
    assert_eq!(judged.len(), 2, "q2 has no judgement");
    assert_eq!(set.clone().with_max_queries(Some(1)).judged().len(), 1);
    // `[validation] labelled_max_queries`: 0 is all.
    let dirs = [d.to_path_buf()];
    assert_eq!(
        LabelledSet::load_configured(&dirs, 0).unwrap()[0]
            .judged()
            .len(),
        2
    );
    assert_eq!(
        LabelledSet::load_configured(&dirs, 1).unwrap()[0]
            .judged()
            .len(),
        1
    );

    std::fs::write(d.join("qrels.dev.tsv"), "q0 d0 1\nq1 d1 2\nq1 d2 high\n").unwrap();
    match LabelledSet::load(d).unwrap_err() {
        LabelledError::BadLine { line, path, .. } => {
            assert_eq!(line, 3);
            assert!(path.ends_with("qrels.dev.tsv"));
        }
        e => panic!("{e}"),
    }
    std::fs::write(d.join("qrels.dev.tsv"), "q0 d0\n").unwrap();
    assert!(matches!(
        LabelledSet::load(d).unwrap_err(),
        LabelledError::BadLine { line: 1, .. }
    ));
    std::fs::write(d.join("qrels.dev.tsv"), "q9 d0 1\n").unwrap();
    assert!(matches!(
        LabelledSet::load(d).unwrap_err(),
        LabelledError::Empty { .. }
    ));

    // queries.jsonl wins over queries.dev.jsonl; a bad line names its number.
    std::fs::write(d.join("qrels.dev.tsv"), "q0 d0 1\n").unwrap();
    std::fs::write(
        d.join("queries.jsonl"),
        "{\"query_id\": \"q0\", \"query\": \"x y\"}\nnot json\n",
    )
    .unwrap();
    let err = LabelledSet::load(d).unwrap_err();
    assert!(
        matches!(&err, LabelledError::BadLine { line: 2, path, .. } if path.ends_with("queries.jsonl")),
        "{err}"
    );
    assert!(err.to_string().contains("queries.jsonl:2"), "{err}");
}

#[test]
fn ndcg_rule_improvement_or_tie_with_a_latency_win() {
    use gates::NdcgVerdict::*;
    let t = gates::Thresholds::default();
    assert_eq!(t.stage_b_p95_ms, 300.0);
    assert_eq!(t.stage_c_p95_ms, 300.0);
    let verdict = |c, s, cp, sp| gates::ndcg_verdict(c, s, cp, sp, &t);
    assert_eq!(verdict(0.612, 0.600, 9.0, 5.0), Improved);
    assert_eq!(verdict(0.611, 0.600, 5.0, 9.0), GainTooSmall);
    assert_eq!(verdict(0.600, 0.600, 5.0, 9.0), TieWithLatencyWin);
    assert_eq!(verdict(0.598, 0.600, 5.0, 9.0), TieWithLatencyWin);
    assert_eq!(verdict(0.600, 0.600, 9.0, 9.0), TieWithoutLatencyWin);
    assert_eq!(verdict(0.590, 0.600, 1.0, 9.0), Regressed);
    // 0 against 0 is a tie, not a 2% gain.
    assert_eq!(verdict(0.0, 0.0, 9.0, 5.0), TieWithoutLatencyWin);
    assert!(Improved.passed() && TieWithLatencyWin.passed());
    assert!(!TieWithoutLatencyWin.passed() && !GainTooSmall.passed() && !Regressed.passed());
}

#[test]
fn a_content_refresh_needs_no_ndcg_gain_only_no_regression() {
    use gates::NdcgVerdict as V;
    let same = gates::Thresholds {
        ndcg_ranking_changed: false,
        ..gates::Thresholds::default()
    };
    let changed = gates::Thresholds::default();
    // Unchanged and not faster: a ranking change fails, a content refresh passes.
    assert_eq!(
        gates::ndcg_verdict(0.600, 0.600, 2.0, 1.0, &changed),
        V::TieWithoutLatencyWin
    );
    assert_eq!(
        gates::ndcg_verdict(0.600, 0.600, 2.0, 1.0, &same),
        V::NotRegressedSameRanking
    );
    assert!(V::NotRegressedSameRanking.passed());
    // Within the band below stable still passes a refresh; beyond it fails.
    assert_eq!(
        gates::ndcg_verdict(0.598, 0.600, 2.0, 1.0, &same),
        V::NotRegressedSameRanking
    );
    assert_eq!(
        gates::ndcg_verdict(0.580, 0.600, 2.0, 1.0, &same),
        V::Regressed
    );
    // An improvement is still called one.
    assert_eq!(
        gates::ndcg_verdict(0.700, 0.600, 2.0, 1.0, &same),
        V::Improved
    );
}

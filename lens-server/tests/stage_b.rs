//! Stage-B: precise navigation round trips on real indexer output, symbol
//! queries against a brute-force scan of the extracted definitions, agreement
//! with universal-ctags, and Stage-B in search results and the dashboard.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use lens_server::server::auth::Policy;
use lens_server::server::config::Config;
use lens_server::server::semantic::SemanticService;
use lens_server::server::{AppState, router};
use tower::ServiceExt;

use crate::common::{get, index, registry_crate, run, write};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/precise")
}

fn state(bundle: &Path, dir: &Path) -> Arc<AppState> {
    AppState::new(
        bundle,
        Config::default(),
        Policy::Permissive,
        &dir.join("audit.jsonl"),
        SemanticService::disabled("not under test"),
    )
    .unwrap()
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_./".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Byte offset of a 0-based line and UTF-16 column in `text`.
fn utf16_to_byte(text: &str, line: u64, character: u64) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line as usize)
        .map(str::len)
        .sum();
    let mut units = 0u64;
    for (i, c) in text[start..].char_indices() {
        if units >= character || c == '\n' {
            return start + i;
        }
        units += c.len_utf16() as u64;
    }
    text.len()
}

/// The expectations' convention: first non-empty line that is not a fence or rule.
fn hover_first_line(md: &str) -> String {
    md.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("```") && *l != "---")
        .unwrap_or("")
        .to_string()
}

/// Definitions, references and hover at every target of one real index
/// agree with what the indexer wrote, byte for byte.
async fn round_trip(section: &str, repo: &str, flag: &str, file: &str) {
    let expect: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("expectations.json")).unwrap())
            .unwrap();
    let root = fixtures().join(format!("src-{repo}"));
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    let spec = format!("{repo}={}", root.display());
    let idx = fixtures().join(file);
    index(&[Path::new(&spec)], &bundle, &[flag, idx.to_str().unwrap()]);
    let st = state(&bundle, dir.path());
    let targets = expect[section]["targets"].as_array().unwrap();
    assert!(targets.len() >= 5, "{section}: too few targets");
    for t in targets {
        let id = t["id"].as_str().unwrap();
        let path = t["path"].as_str().unwrap();
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        let line0 = t["line"].as_u64().unwrap();
        let at = utf16_to_byte(&text, line0, t["character"].as_u64().unwrap());
        let line_start: usize = text
            .split_inclusive('\n')
            .take(line0 as usize)
            .map(str::len)
            .sum();
        let q = format!(
            "repo={repo}&path={}&line={}&character={}",
            enc(path),
            line0 + 1,
            at - line_start
        );

        let want: BTreeSet<(String, usize, usize)> = t["definitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| {
                let p = d["path"].as_str()?;
                let content = std::fs::read_to_string(root.join(p)).ok()?;
                let r = &d["range"];
                let s = utf16_to_byte(
                    &content,
                    r["start"]["line"].as_u64()?,
                    r["start"]["character"].as_u64()?,
                );
                let e = utf16_to_byte(
                    &content,
                    r["end"]["line"].as_u64()?,
                    r["end"]["character"].as_u64()?,
                );
                Some((p.to_string(), s, e))
            })
            .collect();
        let def = get(&st, &format!("/definition?{q}")).await;
        if want.is_empty() {
            assert_eq!(
                def["precise"], false,
                "{section}/{id}: the index gives no definition: {def}"
            );
        } else {
            assert_eq!(def["precise"], true, "{section}/{id}: {def}");
            let got: BTreeSet<(String, usize, usize)> = def["locations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    (
                        l["path"].as_str().unwrap().to_string(),
                        l["abs_start"].as_u64().unwrap() as usize,
                        l["abs_end"].as_u64().unwrap() as usize,
                    )
                })
                .collect();
            assert_eq!(got, want, "{section}/{id}: definitions");
        }

        let refs = get(&st, &format!("/references?{q}&limit=10000")).await;
        let want_refs = t["reference_count"].as_u64().unwrap();
        if want_refs > 0 {
            assert_eq!(refs["precise"], true, "{section}/{id}: {refs}");
        }
        if refs["precise"] == true {
            assert_eq!(
                refs["total"].as_u64().unwrap(),
                want_refs,
                "{section}/{id}: reference count"
            );
        }

        let hover = get(&st, &format!("/hover?{q}")).await;
        let want_hover = t["hover_first_line"].as_str().unwrap_or("");
        if want_hover.is_empty() {
            assert_ne!(
                hover["precise"], true,
                "{section}/{id}: the index has no hover: {hover}"
            );
        } else {
            assert_eq!(hover["precise"], true, "{section}/{id}: {hover}");
            let text = hover["contents"].as_str().unwrap();
            assert_eq!(hover_first_line(text), want_hover, "{section}/{id}: hover");
            if let Some(full) = t["hover_text"].as_str() {
                assert_eq!(text, full, "{section}/{id}: hover text");
            }
        }
    }
    let dash = get(&st, "/monitoring/dashboard").await;
    let b = &dash["dashboard_state"]["metrics"]["performance"]["stageB"];
    assert!(b["lsif_coverage_percent"].as_f64().unwrap() > 90.0, "{b}");
    assert!(b["p95_latency_ms"].as_f64().unwrap() > 0.0, "{b}");
}

#[tokio::test]
async fn scip_typescript_round_trips() {
    round_trip("ts_scip", "ts", "--scip", "ts/index.scip").await;
}

#[tokio::test]
async fn scip_python_round_trips() {
    round_trip("py_scip", "py", "--scip", "py/index.scip").await;
}

#[tokio::test]
async fn lsif_typescript_round_trips() {
    round_trip("ts_lsif", "ts", "--lsif", "ts/dump.lsif").await;
}

#[test]
fn a_damaged_import_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.lsif");
    std::fs::write(
        &bad,
        b"{\"id\":1,\"type\":\"vertex\",\"label\":\"range\",\"start\":3}\n",
    )
    .unwrap();
    let src = fixtures().join("src-ts");
    let out = dir.path().join("b");
    let o = run(&[
        "index",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--lsif",
        bad.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad.lsif: line 1"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists(), "no bundle is left behind");
    let o = run(&[
        "index",
        src.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--scip",
        bad.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a SCIP index"));
}

/// `sym:` over a real tree returns exactly the definitions a direct
/// extraction of every file finds (brute force), with kinds and scopes.
#[test]
fn symbol_queries_match_brute_force_extraction() {
    let root = registry_crate("regex-syntax-0.8");
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    index(&[&root], &bundle, &[]);
    let reader = lens_core::BundleReader::open(&bundle).unwrap();
    // Brute force: every file, extracted again.
    let mut all: Vec<(String, String, u32, &'static str, String)> = Vec::new();
    for e in ignore::WalkBuilder::new(&root).build().flatten() {
        let rel = e
            .path()
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let Some(lang) = lens_core::lang::detect(&rel) else {
            continue;
        };
        let content = std::fs::read(e.path()).unwrap();
        if content.len() as u64 > lens_core::limits::DEFAULT_MAX_FILE_SIZE || content.contains(&0) {
            continue;
        }
        for d in indexer::symbols::extract(Some(lang), &content) {
            let name =
                String::from_utf8_lossy(&content[d.name_start as usize..d.name_end as usize])
                    .into_owned();
            all.push((
                name,
                rel.clone(),
                d.line,
                d.kind.as_str(),
                d.scope.unwrap_or_default(),
            ));
        }
    }
    assert!(all.len() > 2000, "{}", all.len());
    let mut names: Vec<&String> = all.iter().map(|a| &a.0).collect();
    names.sort();
    names.dedup();
    let step = (names.len() / 150).max(1);
    for name in names.iter().step_by(step) {
        let want: BTreeSet<(String, u32, &str)> = all
            .iter()
            .filter(|a| &a.0 == *name)
            .map(|a| (a.1.clone(), a.2, a.3))
            .collect();
        let q = lens_core::parse(&format!("case:yes sym:\"{name}\"")).unwrap();
        let plan = lens_core::Planned::from_query(&q, lens_core::Limits::exhaustive()).unwrap();
        let lens_core::Outcome::Symbols(r) = lens_core::execute(
            &reader,
            &plan,
            &lens_core::Deadline::after(std::time::Duration::from_secs(30)),
        )
        .unwrap() else {
            panic!("not a symbol query")
        };
        let got: BTreeSet<(String, u32, &str)> = r
            .hits
            .iter()
            .map(|h| (h.path.to_string(), h.line as u32, h.kind.as_str()))
            .collect();
        assert_eq!(got, want, "sym:{name}");
    }
    // kind: (alone, and with file filters that pick files before definitions are read)
    // selects the same set as filtering every definition.
    let located = |query: &str| -> BTreeSet<(String, u32)> {
        let q = lens_core::parse(query).unwrap();
        let plan = lens_core::Planned::from_query(&q, lens_core::Limits::exhaustive()).unwrap();
        let lens_core::Outcome::Symbols(r) = lens_core::execute(
            &reader,
            &plan,
            &lens_core::Deadline::after(std::time::Duration::from_secs(30)),
        )
        .unwrap() else {
            panic!("{query}: not a symbol query")
        };
        r.hits
            .iter()
            .map(|h| (h.path.to_string(), h.line as u32))
            .collect()
    };
    for kind in ["method", "struct"] {
        let want: BTreeSet<(String, u32)> = all
            .iter()
            .filter(|a| a.3 == kind)
            .map(|a| (a.1.clone(), a.2))
            .collect();
        assert_eq!(located(&format!("kind:{kind}")), want, "kind:{kind}");
        let some_dir = all
            .iter()
            .find(|a| a.3 == kind && a.1.contains('/'))
            .map(|a| a.1.rsplit_once('/').unwrap().0.to_string())
            .unwrap();
        for (filter, inside) in [
            (format!("file:^{some_dir}/"), true),
            (format!("-file:^{some_dir}/"), false),
        ] {
            let want: BTreeSet<(String, u32)> = all
                .iter()
                .filter(|a| a.3 == kind && a.1.starts_with(&format!("{some_dir}/")) == inside)
                .map(|a| (a.1.clone(), a.2))
                .collect();
            assert!(!want.is_empty(), "kind:{kind} {filter}");
            assert_eq!(
                located(&format!("kind:{kind} {filter}")),
                want,
                "kind:{kind} {filter}"
            );
        }
    }
    let with_scope = all
        .iter()
        .find(|a| a.3 == "method" && !a.4.is_empty())
        .unwrap();
    let q = lens_core::parse(&format!("case:yes sym:{}::{}", with_scope.4, with_scope.0)).unwrap();
    let plan = lens_core::Planned::from_query(&q, lens_core::Limits::exhaustive()).unwrap();
    let lens_core::Outcome::Symbols(r) = lens_core::execute(
        &reader,
        &plan,
        &lens_core::Deadline::after(std::time::Duration::from_secs(30)),
    )
    .unwrap() else {
        panic!()
    };
    assert!(
        r.hits
            .iter()
            .any(|h| h.path.as_ref() == with_scope.1 && h.line as u32 == with_scope.2)
    );
    assert!(
        r.hits
            .iter()
            .all(|h| h.scope.as_deref() == Some(with_scope.4.as_str()))
    );
}

/// recall@10 of `sym:` queries against universal-ctags on a real Rust tree.
#[test]
fn agrees_with_universal_ctags() {
    let root = registry_crate("regex-syntax-0.8");
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    index(&[&root], &bundle, &[]);
    let tags = dir.path().join("tags.json");
    let o = std::process::Command::new("ctags")
        .current_dir(&root)
        .args(["-R", "--output-format=json", "--fields=+nKl", "-f"])
        .arg(&tags)
        .arg(".")
        .output()
        .expect("universal-ctags is installed (scripts/test.sh installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reader = lens_core::BundleReader::open(&bundle).unwrap();
    let tags = validation::ctags::read_tags(&tags).unwrap();
    assert!(tags.len() > 500, "{}", tags.len());
    let r = validation::ctags::agreement(&reader, &tags, 2000);
    assert!(r.queries > 300, "{}", r.queries);
    assert!(
        r.recall_at_10 >= 0.95,
        "recall@10 {} misses {:?}",
        r.recall_at_10,
        r.misses_by_cause
    );
}

/// Identifier searches verify the defining file first and rank the definition
/// above its uses; hits carry their enclosing definition.
#[test]
fn definitions_rank_first_in_text_search() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    // Many files use the function; one, ranked last by path priors, defines it.
    for i in 0..300 {
        write(
            &src,
            &format!("a/use{i}.c"),
            format!("void f{i}(void) {{ widget_reset(); }}\n").as_bytes(),
        );
    }
    write(
        &src,
        "vendor/deep/x/y/z/defs.c",
        b"/* resets */\nint widget_reset(void)\n{\n  return 0;\n}\n",
    );
    let bundle = dir.path().join("b");
    index(&[&src], &bundle, &[]);
    let o = run(&[
        "search",
        "--bundle",
        bundle.to_str().unwrap(),
        "--json",
        "--limit",
        "5",
        "widget_reset",
    ]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let first = &v["results"][0];
    assert_eq!(first["path"], "vendor/deep/x/y/z/defs.c", "{v}");
    assert_eq!(first["definition"], true);
    assert_eq!(first["line"], 2);
    let use_hit = &v["results"][1];
    assert_eq!(use_hit["symbol"]["name"], "f0", "{v}");
    assert_eq!(use_hit["symbol"]["kind"], "function");
    assert!(v["stats"]["stage_b_ms"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn symbol_routes_and_fallback_navigation() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(&src, "shapes.py", b"class Shape:\n    # Area in square units.\n    def area(self):\n        return 0\n\ndef total(shapes):\n    return sum(s.area() for s in shapes)\n");
    let bundle = dir.path().join("b");
    index(&[&src], &bundle, &[]);
    let st = state(&bundle, dir.path());
    let v = get(&st, "/symbols?q=area").await;
    assert_eq!(v["results"][0]["name"], "area");
    assert_eq!(v["results"][0]["kind"], "method");
    assert_eq!(v["results"][0]["scope"], "Shape");
    assert_eq!(v["results"][0]["type"], "symbol");
    let v = get(&st, "/search?q=sym:Shape.area").await;
    assert_eq!(v["results"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["timings"]["stage_b"].as_f64().is_some());
    // The use on line 7 resolves to the definition on line 3 (no precise data).
    let d = get(
        &st,
        "/definition?repo=src&path=shapes.py&line=7&character=19",
    )
    .await;
    assert_eq!(d["precise"], false);
    assert_eq!(d["symbol"], "area");
    assert_eq!(d["locations"][0]["line"], 3, "{d}");
    let r = get(
        &st,
        "/references?repo=src&path=shapes.py&line=3&character=9",
    )
    .await;
    assert_eq!(r["precise"], false);
    assert_eq!(r["total"], 1, "{r}");
    assert_eq!(r["locations"][0]["line"], 7);
    let h = get(&st, "/hover?repo=src&path=shapes.py&line=7&character=19").await;
    let text = h["contents"].as_str().unwrap();
    assert!(
        text.contains("def area(self):") && text.contains("Area in square units"),
        "{text}"
    );
    // Past the end of a line: a 400 naming the problem.
    let resp = router(st.clone())
        .oneshot(
            Request::get("/definition?repo=src&path=shapes.py&line=1&character=99")
                .header("x-forwarded-for", "127.0.0.1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let dash = get(&st, "/monitoring/dashboard").await;
    let b = &dash["dashboard_state"]["metrics"]["performance"]["stageB"];
    for k in [
        "p95_latency_ms",
        "lsif_coverage_percent",
        "lru_cache_hit_rate",
        "pattern_compile_time_ms",
    ] {
        assert!(b[k].is_number(), "{k}: {b}");
    }
    assert!(b["pattern_compile_time_ms"].as_f64().unwrap() > 0.0);
}

/// Names as each language writes them: Go and Java packages are scopes, a Go
/// method answers `kind:function` (a function with a receiver), and the
/// definitions of `var (...)` blocks are found.
#[tokio::test]
async fn qualified_names_as_each_language_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write(&src, "net/http/server.go", b"package http\n\nfunc ListenAndServe(addr string) error { return nil }\n\ntype Server struct{ Addr string }\n\nfunc (s *Server) ListenAndServe() error { return nil }\n");
    write(&src, "bufio/scan.go", b"package bufio\n\ntype Scanner struct{}\n\nfunc (s *Scanner) Scan() bool { return false }\n\nvar (\n\tErrTooLong = 1\n\tErrNegativeAdvance, ErrAdvanceTooFar = 2, 3\n)\n");
    write(&src, "other/scan.go", b"package other\n\nfunc Scan() {}\n");
    write(
        &src,
        "java/util/List.java",
        b"package java.util;\n\npublic interface List<E> {\n    boolean add(E e);\n}\n",
    );
    let bundle = dir.path().join("b");
    index(&[&src], &bundle, &[]);
    let st = state(&bundle, dir.path());
    let found = |v: serde_json::Value| -> Vec<(String, String, u64)> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["path"].as_str().unwrap().to_string(),
                    h["kind"].as_str().unwrap().to_string(),
                    h["line"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // Package-qualified: the function, not the method of the same name.
    let v = found(get(&st, "/search?q=sym:http.ListenAndServe").await);
    assert_eq!(
        v,
        [("net/http/server.go".into(), "function".into(), 3)],
        "{v:?}"
    );
    // Package, receiver type, method.
    let v = found(get(&st, "/search?q=sym:http.Server.ListenAndServe").await);
    assert_eq!(
        v,
        [("net/http/server.go".into(), "method".into(), 7)],
        "{v:?}"
    );
    let v = found(get(&st, "/search?q=sym:bufio.Scanner.Scan").await);
    assert_eq!(v, [("bufio/scan.go".into(), "method".into(), 5)], "{v:?}");
    let v = found(get(&st, "/search?q=sym:Scanner.Scan").await);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(found(get(&st, "/search?q=sym:other.Scanner.Scan").await).is_empty());
    // kind:function finds Go's methods and functions; kind:method the methods only.
    let v = found(get(&st, "/search?q=sym:Scan+kind:function").await);
    assert_eq!(v.len(), 2, "{v:?}");
    let v = found(get(&st, "/search?q=sym:Scan+kind:method").await);
    assert_eq!(v, [("bufio/scan.go".into(), "method".into(), 5)], "{v:?}");
    // `var (...)` blocks, several names to a line.
    for (name, line) in [
        ("ErrTooLong", 8),
        ("ErrNegativeAdvance", 9),
        ("ErrAdvanceTooFar", 9),
    ] {
        let v = found(get(&st, &format!("/search?q=sym:bufio.{name}")).await);
        assert_eq!(
            v,
            [("bufio/scan.go".into(), "variable".into(), line)],
            "{name}: {v:?}"
        );
    }
    // Java: the package is a scope, whole or in part.
    for q in [
        "sym:java.util.List",
        "sym:util.List",
        "sym:List.add",
        "sym:java.util.List.add",
    ] {
        let v = found(get(&st, &format!("/search?q={q}")).await);
        assert_eq!(v.len(), 1, "{q}: {v:?}");
    }
}

//! The HTTP service, driven in-process through the router over a real bundle.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lens_server::server::auth::{Policy, hash_key};
use lens_server::server::config::{Config, KeyEntry, LimitsConfig};
use lens_server::server::semantic::SemanticService;
use lens_server::server::{AppState, router};
use tower::ServiceExt;

use crate::common::{index, write};

struct Fixture {
    _dir: tempfile::TempDir,
    state: Arc<AppState>,
    audit: std::path::PathBuf,
}

fn bundle(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("proj");
    for i in 0..40 {
        write(
            &src,
            &format!("src/m{i}.rs"),
            format!("fn handler_{i}() {{ needle(); }}\n// needle again\nlet x = {i};\n").as_bytes(),
        );
    }
    write(&src, "lib.py", b"def needle():\n    return 'needle'\n");
    let out = dir.join("bundle");
    index(&[&src], &out, &[]);
    out
}

fn fixture(policy: Policy, limits: LimitsConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle(dir.path());
    let keys = vec![
        KeyEntry {
            id: "searcher".into(),
            sha256: hash_key("k-search"),
            scopes: vec!["search".into()],
        },
        KeyEntry {
            id: "operator".into(),
            sha256: hash_key("k-ops"),
            scopes: vec!["ops".into()],
        },
        KeyEntry {
            id: "both".into(),
            sha256: hash_key("k-both"),
            scopes: vec!["search".into(), "ops".into()],
        },
    ];
    let audit = dir.path().join("audit.jsonl");
    let store = dir.path().join("state");
    let state = AppState::with_store(
        &b,
        Some(&store),
        Config {
            keys,
            limits,
            ..Config::default()
        },
        policy,
        &audit,
        SemanticService::disabled("not under test"),
    )
    .unwrap();
    Fixture {
        _dir: dir,
        state,
        audit,
    }
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn call(
    st: &Arc<AppState>,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<&str>,
    extra: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    for (h, v) in extra {
        req = req.header(*h, *v);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string()))
            .unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn assert_common_headers(r: &Reply) {
    for h in [
        "x-trace-id",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(
            r.headers.contains_key(h),
            "missing {h} on a {} response",
            r.status
        );
    }
}

#[tokio::test]
async fn every_route_answers() {
    let f = fixture(Policy::Enforce, LimitsConfig::default());
    let st = &f.state;
    let r = call(
        st,
        "GET",
        "/search?q=needle&limit=5",
        Some("k-search"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["results"].as_array().unwrap().len(), 5);
    assert!(v["timings"]["stage_a"].as_f64().unwrap() > 0.0);
    assert!(v["results"][0]["context_after"].is_array());
    let r = call(
        st,
        "POST",
        "/search",
        Some("k-search"),
        Some(r#"{"q": "needle", "lang": "python", "limit": 10}"#),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["path"] == "lib.py"),
        "{v}"
    );
    let r = call(
        st,
        "GET",
        "/file?repo=proj&path=lib.py",
        Some("k-search"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["content"], "def needle():\n    return 'needle'\n");
    let r = call(st, "GET", "/health", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    assert_eq!(r.json()["stages"]["stage_a"]["sparse_grams"], "available");
    let r = call(st, "GET", "/metrics", Some("k-ops"), None, &[]).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.contains("lens_http_requests_total{route=\"/search\",status=\"200\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("lens_stage_duration_seconds_bucket{le=\"0.0001\",stage=\"stage_a\"}"),
        "{text}"
    );
    assert_eq!(
        r.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(!text.contains("# EOF"));
    let accept = [(
        "accept",
        "application/openmetrics-text; version=1.0.0,text/plain;q=0.5",
    )];
    let r = call(st, "GET", "/metrics", Some("k-ops"), None, &accept).await;
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0"),
    );
    assert!(String::from_utf8(r.body).unwrap().ends_with("# EOF\n"));
    let r = call(st, "GET", "/monitoring/dashboard", Some("k-ops"), None, &[]).await;
    let v = r.json();
    let d = &v["dashboard_state"];
    assert_eq!(d["metrics"]["performance"]["stageA"]["requests"], 2);
    assert!(
        d["metrics"]["performance"]["stageA"]["p95_latency_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(d["metrics"]["performance"]["stageA"]["early_termination_rate"].is_number());
    assert!(d["sla_compliance"]["tail_latency_compliant"].is_boolean());
    assert_eq!(d["health"]["status"], "ok");
    assert!(d["recent_alerts"].is_array());
    let r = call(st, "POST", "/admin/reload", Some("k-ops"), None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["reloaded"], true);
}

#[tokio::test]
async fn error_paths_are_json_4xx() {
    let limits = LimitsConfig {
        max_query_bytes: 64,
        max_body_bytes: 256,
        ..LimitsConfig::default()
    };
    let f = fixture(Policy::Enforce, limits);
    let st = &f.state;
    let long = format!("/search?q={}", "a".repeat(65));
    let big_body = format!(r#"{{"q": "{}"}}"#, "a".repeat(400));
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        ("GET", "/search", None, 400, "missing_query"),
        ("GET", "/search?q=/a(b/", None, 400, "invalid_regex"),
        ("GET", "/search?q=(a", None, 400, "invalid_query"),
        ("GET", &long, None, 400, "query_too_long"),
        ("GET", "/search?q=a&limit=0", None, 400, "invalid_limit"),
        (
            "GET",
            "/search?q=a&limit=100000",
            None,
            400,
            "invalid_limit",
        ),
        (
            "GET",
            "/search?q=a&context=99",
            None,
            400,
            "invalid_context",
        ),
        (
            "GET",
            "/search?q=a&exhaustive=true&cursor=bm9wZQ",
            None,
            400,
            "invalid_cursor",
        ),
        (
            "GET",
            "/search?q=a&bogus=1",
            None,
            400,
            "invalid_parameters",
        ),
        (
            "GET",
            "/search?q=a&limit=many",
            None,
            400,
            "invalid_parameters",
        ),
        ("POST", "/search", Some("{not json"), 400, "invalid_body"),
        ("POST", "/search", Some(&big_body), 413, "body_too_large"),
        (
            "GET",
            "/file?repo=proj&path=../../etc/passwd",
            None,
            404,
            "not_found",
        ),
        ("GET", "/file?repo=proj", None, 400, "invalid_parameters"),
        ("GET", "/no/such/route", None, 404, "not_found"),
    ];
    for (method, uri, body, status, code) in cases {
        let r = call(st, method, uri, Some("k-both"), body, &[]).await;
        assert_eq!(
            r.status.as_u16(),
            status,
            "{method} {uri}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_common_headers(&r);
        if !code.is_empty() {
            assert_eq!(r.json()["error"]["code"], code, "{method} {uri}");
            assert!(
                r.json()["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
    }
}

#[tokio::test]
async fn auth_matrix_over_routes_scopes_and_policies() {
    let routes: [(&str, &str, Option<&str>); 6] = [
        ("GET", "/search?q=needle", Some("search")),
        ("GET", "/file?repo=proj&path=lib.py", Some("search")),
        ("GET", "/metrics", Some("ops")),
        ("GET", "/monitoring/dashboard", Some("ops")),
        ("POST", "/admin/reload", Some("ops")),
        ("GET", "/health", None),
    ];
    let callers: [(Option<&str>, &[&str]); 5] = [
        (None, &[]),
        (Some("wrong"), &[]),
        (Some("k-search"), &["search"]),
        (Some("k-ops"), &["ops"]),
        (Some("k-both"), &["search", "ops"]),
    ];
    for policy in [Policy::Permissive, Policy::Enforce] {
        let f = fixture(policy, LimitsConfig::default());
        for (method, uri, needed) in routes {
            for (key, scopes) in callers {
                let r = call(&f.state, method, uri, key, None, &[]).await;
                assert_common_headers(&r);
                let allowed = needed.is_none_or(|n| scopes.contains(&n));
                let expected: u16 = if allowed || policy == Policy::Permissive {
                    200
                } else if key.is_none() || key == Some("wrong") {
                    401
                } else {
                    403
                };
                assert_eq!(
                    r.status.as_u16(),
                    expected,
                    "{policy:?} {method} {uri} key {key:?}"
                );
            }
        }
        // Every denial (or would-be denial) and every ops call is audited, with key ids only.
        let log = std::fs::read_to_string(&f.audit).unwrap();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let denial = if policy == Policy::Enforce {
            "deny"
        } else {
            "would_deny"
        };
        assert!(lines.iter().any(|l| l["decision"] == denial
            && l["reasons"][0] == "missing_scope"
            && l["key_id"] == "searcher"));
        assert!(lines.iter().any(|l| l["decision"] == "allow"
            && l["route"] == "/admin/reload"
            && l["key_id"] == "operator"));
        assert!(
            !log.contains("k-search") && !log.contains("k-ops") && !log.contains("k-both"),
            "keys never reach the audit log"
        );
        assert!(
            lines
                .iter()
                .all(|l| l["trace_id"].as_str().is_some_and(|t| t.len() == 32))
        );
    }
}

#[tokio::test]
async fn rate_limit_headers_on_every_response_and_429() {
    let f = fixture(
        Policy::Enforce,
        LimitsConfig {
            requests_per_second: 1,
            burst: 3,
            ..LimitsConfig::default()
        },
    );
    let st = &f.state;
    let mut remaining = Vec::new();
    for uri in ["/search?q=needle", "/search?q=/a(b/", "/health"] {
        let r = call(st, "GET", uri, Some("k-search"), None, &[]).await;
        assert_common_headers(&r);
        remaining.push(
            r.headers["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert_eq!(remaining, vec![2, 1, 0]);
    let r = call(st, "GET", "/search?q=needle", Some("k-search"), None, &[]).await;
    assert_eq!(r.status, 429);
    assert_common_headers(&r);
    assert_eq!(r.json()["error"]["code"], "rate_limited");
    assert!(
        r.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let reset: u64 = r.headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        reset >= now && reset <= now + 5,
        "reset {reset} is epoch seconds near {now}"
    );
    // Limits are per key: another key still passes.
    assert_eq!(
        call(st, "GET", "/search?q=needle", Some("k-both"), None, &[])
            .await
            .status,
        200
    );
    let log = std::fs::read_to_string(&f.audit).unwrap();
    assert!(log.contains("\"rate_limited\""));
}

#[tokio::test]
async fn trace_ids_are_echoed_or_generated() {
    let f = fixture(Policy::Enforce, LimitsConfig::default());
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = call(
        &f.state,
        "GET",
        "/health",
        None,
        None,
        &[("traceparent", tp)],
    )
    .await;
    assert_eq!(r.headers["x-trace-id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let a = call(
        &f.state,
        "GET",
        "/health",
        None,
        None,
        &[("traceparent", "00-zz-bad-01")],
    )
    .await;
    let b = call(&f.state, "GET", "/health", None, None, &[]).await;
    let (a, b) = (
        a.headers["x-trace-id"].to_str().unwrap().to_string(),
        b.headers["x-trace-id"].to_str().unwrap().to_string(),
    );
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    assert_ne!(a, "4bf92f3577b34da6a3ce929d0e0e4736");
}

#[tokio::test]
async fn cursor_pages_equal_one_exhaustive_request() {
    let f = fixture(Policy::Enforce, LimitsConfig::default());
    let st = &f.state;
    let all = call(
        st,
        "GET",
        "/search?q=needle&exhaustive=true&limit=1000",
        Some("k-search"),
        None,
        &[],
    )
    .await
    .json();
    let all = all["results"].as_array().unwrap().clone();
    assert_eq!(all.len(), 40 * 2 + 2);
    let mut paged = Vec::new();
    let mut uri = "/search?q=needle&exhaustive=true&limit=7".to_string();
    loop {
        let v = call(st, "GET", &uri, Some("k-search"), None, &[])
            .await
            .json();
        paged.extend(v["results"].as_array().unwrap().iter().cloned());
        match v["next_cursor"].as_str() {
            Some(c) => uri = format!("/search?q=needle&exhaustive=true&limit=7&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, all);
    // A cursor does not carry over to another query.
    let first = call(
        st,
        "GET",
        "/search?q=needle&exhaustive=true&limit=7",
        Some("k-search"),
        None,
        &[],
    )
    .await
    .json();
    let c = first["next_cursor"].as_str().unwrap();
    let r = call(
        st,
        "GET",
        &format!("/search?q=handler&exhaustive=true&limit=7&cursor={c}"),
        Some("k-search"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "invalid_cursor");
}

#[tokio::test]
async fn overload_is_shed_with_503_and_retry_after() {
    let f = fixture(
        Policy::Enforce,
        LimitsConfig {
            max_inflight: 2,
            ..LimitsConfig::default()
        },
    );
    let held = f
        .state
        .inflight
        .clone()
        .acquire_many_owned(2)
        .await
        .unwrap();
    let r = call(
        &f.state,
        "GET",
        "/search?q=needle",
        Some("k-search"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 503);
    assert_common_headers(&r);
    assert_eq!(r.headers["retry-after"], "1");
    drop(held);
    assert_eq!(
        call(
            &f.state,
            "GET",
            "/search?q=needle",
            Some("k-search"),
            None,
            &[]
        )
        .await
        .status,
        200
    );
}

#[test]
fn keys_add_stores_only_the_hash_and_the_key_works() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("lens.toml");
    let o = crate::common::run(&[
        "keys",
        "add",
        "--scopes",
        "search,ops",
        "--config",
        cfg.to_str().unwrap(),
        "--id",
        "laptop",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let key = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("lens_"));
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(!text.contains(&key));
    assert!(text.contains(&hash_key(&key)));
    let config = Config::load(&cfg).unwrap();
    assert_eq!(config.keys[0].scopes, vec!["search", "ops"]);
    let o = crate::common::run(&[
        "keys",
        "add",
        "--scopes",
        "admin",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

/// docs/openapi.json against the running code, in both directions.
mod openapi {
    use std::collections::BTreeSet;

    use super::*;

    fn spec() -> serde_json::Value {
        serde_json::from_str(lens_server::server::routes_openapi()).unwrap()
    }

    fn props(spec: &serde_json::Value, schema: &str) -> BTreeSet<String> {
        spec["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    fn keys(v: &serde_json::Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn error_codes_are_the_table() {
        use lens_server::errors::ErrorCode;
        let spec = spec();
        let code =
            &spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"];
        let listed: Vec<&str> = code["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let table: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, table);
        let described = code["description"].as_str().unwrap();
        for c in ErrorCode::ALL {
            let entry = format!("`{}` ({})", c.as_str(), c.status().as_u16());
            assert!(
                described.contains(&entry),
                "{entry} missing from the description"
            );
        }
    }

    #[tokio::test]
    async fn spec_is_served_and_matches_the_routes() {
        let f = fixture(Policy::Enforce, LimitsConfig::default());
        let served = call(&f.state, "GET", "/openapi.json", None, None, &[]).await;
        assert_eq!(served.status, 200);
        assert_eq!(served.json(), spec());
        let documented: BTreeSet<String> = spec()["paths"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let routed: BTreeSet<String> = lens_server::server::ROUTES
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(documented, routed);
        // The last quality-gate report exists once the gates have run.
        let gates = call(
            &f.state,
            "POST",
            "/validation/quality-gates",
            Some("k-both"),
            None,
            &[],
        )
        .await;
        assert_eq!(gates.status, 200);
        let report = gates.json();
        let names: Vec<&str> = report["quality_gates_report"]["gates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["gate"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"span_coverage"), "{report}");
        // Every documented (path, method) is answered by a handler, not the fallback.
        for (path, ops) in spec()["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys() {
                let uri = match path.as_str() {
                    "/search" if method == "get" => "/search?q=needle".to_string(),
                    "/file" => "/file?repo=proj&path=lib.py".to_string(),
                    "/symbols" => "/symbols?q=needle".to_string(),
                    "/definition" | "/references" | "/hover" => {
                        format!("{path}?repo=proj&path=lib.py&line=1&character=5")
                    }
                    p => p.to_string(),
                };
                let body = match (method.as_str(), path.as_str()) {
                    ("post", "/search") => Some(r#"{"q": "needle"}"#),
                    ("post", "/canary/killswitch") => Some(r#"{"reason": "drift test"}"#),
                    ("post", "/mcp") => Some(mcp::TOOLS_LIST),
                    _ => None,
                };
                let headers: &[(&str, &str)] = match path.as_str() {
                    "/mcp" => &mcp::headers("tools/list"),
                    _ => &[],
                };
                let r = call(
                    &f.state,
                    &method.to_uppercase(),
                    &uri,
                    Some("k-both"),
                    body,
                    headers,
                )
                .await;
                // Without a candidate the rollout's writes and nights are refused;
                // drills are off; a sign-off report needs a candidate or ?version=.
                let expected = match path.as_str() {
                    "/canary/progress" | "/canary/killswitch" | "/canary/drill" => 409,
                    "/validation/nightly" => 409,
                    "/validation/signoff-report" => 404,
                    _ => 200,
                };
                assert_eq!(r.status, expected, "{method} {path}");
                let documented = &ops[method]["responses"][expected.to_string()];
                assert!(
                    documented.is_object(),
                    "{method} {path}: {expected} undocumented"
                );
            }
        }
    }

    #[tokio::test]
    async fn search_parameters_and_responses_match_the_code() {
        let f = fixture(Policy::Enforce, LimitsConfig::default());
        let s = spec();
        let documented: BTreeSet<String> = s["paths"]["/search"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(documented, props(&s, "SearchRequest"));
        // serde names every field of the real parameter struct when it rejects an unknown one.
        let r = call(
            &f.state,
            "GET",
            "/search?q=a&zzz=1",
            Some("k-both"),
            None,
            &[],
        )
        .await;
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        let expected = msg
            .split("expected one of")
            .nth(1)
            .unwrap_or_else(|| panic!("{msg}"));
        let in_code: BTreeSet<String> = expected
            .split(',')
            .map(|x| x.trim().trim_matches('`').to_string())
            .collect();
        assert_eq!(documented, in_code, "{msg}");

        let v = call(
            &f.state,
            "GET",
            "/search?q=needle&exhaustive=true&limit=3",
            Some("k-both"),
            None,
            &[],
        )
        .await
        .json();
        // `files` comes with group=file only.
        let mut ungrouped = props(&s, "SearchResponse");
        assert!(ungrouped.remove("files"));
        assert_eq!(keys(&v), ungrouped);
        let g = call(
            &f.state,
            "GET",
            "/search?q=needle&group=file&limit=3",
            Some("k-both"),
            None,
            &[],
        )
        .await
        .json();
        assert_eq!(keys(&g), props(&s, "SearchResponse"));
        assert_eq!(keys(&g["files"][0]), props(&s, "FileGroup"));
        assert_eq!(keys(&v["stats"]), props(&s, "SearchStats"));
        assert_eq!(keys(&v["timings"]), props(&s, "Timings"));
        assert_eq!(keys(&v["results"][0]), props(&s, "Hit"));
        let h = call(&f.state, "GET", "/health", None, None, &[])
            .await
            .json();
        assert_eq!(keys(&h), props(&s, "Health"));
        let file = call(
            &f.state,
            "GET",
            "/file?repo=proj&path=lib.py",
            Some("k-both"),
            None,
            &[],
        )
        .await
        .json();
        assert_eq!(keys(&file), props(&s, "File"));
        let d = call(
            &f.state,
            "GET",
            "/monitoring/dashboard",
            Some("k-both"),
            None,
            &[],
        )
        .await
        .json();
        let ds =
            &s["components"]["schemas"]["Dashboard"]["properties"]["dashboard_state"]["properties"];
        assert_eq!(
            keys(&d["dashboard_state"]),
            ds.as_object().unwrap().keys().cloned().collect()
        );
        assert_eq!(
            keys(&d["dashboard_state"]["metrics"]["performance"]["stageA"]),
            ds["metrics"]["properties"]["performance"]["properties"]["stageA"]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        );
        let reload = call(&f.state, "POST", "/admin/reload", Some("k-both"), None, &[])
            .await
            .json();
        assert_eq!(keys(&reload), props(&s, "Reload"));
    }
}

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

#[tokio::test]
async fn a_500_logs_its_cause_under_the_trace_id_the_client_got() {
    use lens_server::errors::ApiError;
    let f = fixture(Policy::Enforce, LimitsConfig::default());
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // The admission layer in front of a handler whose work fails inside.
    let app = axum::Router::new()
        .route(
            "/search",
            axum::routing::get(|| async {
                ApiError::internal("reading content.bin: Input/output error (os error 5)")
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            f.state.clone(),
            lens_server::server::admission::admission,
        ))
        .with_state(f.state.clone());
    let req = Request::builder()
        .uri("/search?q=needle")
        .header("authorization", "Bearer k-search")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let trace_id = resp.headers()["x-trace-id"].to_str().unwrap().to_string();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "internal");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("content.bin"),
        "the cause stays in the log: {message}"
    );

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let failed: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["fields"]["message"] == "request failed")
        .collect();
    assert_eq!(failed.len(), 1, "one error line: {text}");
    let line = &failed[0];
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["target"], "lens::http");
    assert_eq!(line["span"]["trace_id"], trace_id.as_str(), "{line}");
    assert_eq!(line["fields"]["status"], 500);
    assert!(
        line["fields"]["cause"]
            .as_str()
            .unwrap()
            .contains("Input/output error"),
        "{line}"
    );
    assert!(!text.contains("k-search"), "a key reached the log: {text}");
}

#[tokio::test]
async fn health_says_when_the_bundle_on_disk_is_not_the_one_served() {
    let f = fixture(Policy::Enforce, LimitsConfig::default());
    let st = &f.state;
    let bundle = |v: &serde_json::Value| {
        (
            v["bundle"]["on_disk"].clone(),
            v["bundle"]["verified"].clone(),
        )
    };
    let h = call(st, "GET", "/health", None, None, &[]).await.json();
    assert_eq!(
        bundle(&h),
        (serde_json::json!("current"), serde_json::json!(true))
    );
    // Rebuilt in place: the served bundle is no longer the one on disk.
    let src = st.bundle_dir.parent().unwrap().join("proj");
    write(&src, "fresh.rs", b"fn fresh() {}\n");
    index(&[&src], &st.bundle_dir, &[]);
    let h = call(st, "GET", "/health", None, None, &[]).await.json();
    assert_eq!(
        bundle(&h),
        (serde_json::json!("changed"), serde_json::json!(false))
    );
    let r = call(st, "POST", "/admin/reload", Some("k-ops"), None, &[]).await;
    assert_eq!(r.status, 200);
    let h = call(st, "GET", "/health", None, None, &[]).await.json();
    assert_eq!(
        bundle(&h),
        (serde_json::json!("current"), serde_json::json!(true))
    );
}

/// Every `/monitoring/dashboard` path the runbook reads with jq answers
/// non-null once the server has served a search.
#[tokio::test]
async fn every_dashboard_path_the_runbook_reads_is_non_null() {
    // The runbook's paths, kept in testdata/ (a clone has no ../shared); when
    // the runbook is beside the checkout, the copy must match it.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let kept = std::fs::read_to_string(root.join("testdata/runbook-dashboard-paths.txt")).unwrap();
    let paths: Vec<String> = kept.lines().map(str::to_string).collect();
    if let Ok(runbook) = std::fs::read_to_string(root.join("../shared/runbook/lens-runbook.md")) {
        let mut from_runbook: Vec<String> = runbook
            .lines()
            .filter(|l| l.contains("/monitoring/dashboard") && l.contains("jq '.dashboard_state"))
            .filter_map(|l| {
                l.split("jq '")
                    .nth(1)?
                    .split('\'')
                    .next()
                    .map(str::to_string)
            })
            .collect();
        from_runbook.sort();
        from_runbook.dedup();
        assert_eq!(
            from_runbook, paths,
            "testdata/runbook-dashboard-paths.txt is behind the runbook"
        );
    }
    assert!(paths.len() >= 8, "{paths:?}");
    let f = fixture(Policy::Enforce, LimitsConfig::default());
    let r = call(
        &f.state,
        "GET",
        "/search?q=needle",
        Some("k-both"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let d = call(
        &f.state,
        "GET",
        "/monitoring/dashboard",
        Some("k-both"),
        None,
        &[],
    )
    .await
    .json();
    for p in &paths {
        let mut v = &d;
        for key in p.trim_start_matches('.').split('.') {
            v = &v[key];
        }
        assert!(!v.is_null(), "{p} is null in {d}");
    }
}

/// `group=file` against the ungrouped answer and the files themselves: every
/// chunk's lines are the file's, every chunk match is one of the file's hits,
/// a file's chunks shown and counted hold all its hits, and chunks are ranked
/// by distinct terms.
#[tokio::test]
async fn grouped_results_are_the_hits_in_ranked_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("g");
    let mut big = String::new();
    for i in 0..60 {
        // Chunks of one term, of two, and lines between them.
        match i % 12 {
            0 => big.push_str("alpha here\n"),
            5 => big.push_str("alpha and omega\n"),
            9 => big.push_str("omega only\n"),
            _ => big.push_str(&format!("filler {i}\n")),
        }
    }
    write(&src, "big.txt", big.as_bytes());
    write(&src, "small.txt", b"omega\nalpha\n");
    let bundle = dir.path().join("bundle");
    index(&[&src], &bundle, &[]);
    let state = AppState::new(
        &bundle,
        Config::default(),
        Policy::Permissive,
        &dir.path().join("audit.jsonl"),
        SemanticService::disabled("not under test"),
    )
    .unwrap();
    for (q, context) in [
        ("alpha or omega", 1),
        ("alpha", 0),
        ("/o.e/", 2),
        ("omega or filler", 1),
    ] {
        let enc = q.replace(' ', "+").replace('/', "%2F");
        let uri = format!("/search?q={enc}&exhaustive=true&limit=1000&context={context}");
        let plain = call(&state, "GET", &uri, None, None, &[]).await.json();
        let grouped = call(&state, "GET", &format!("{uri}&group=file"), None, None, &[]).await;
        assert_eq!(grouped.status, 200);
        let grouped = grouped.json();
        assert_eq!(grouped["results"], plain["results"], "{q}");
        let hits = plain["results"].as_array().unwrap();
        let files = grouped["files"].as_array().unwrap();
        let mut order: Vec<&str> = Vec::new();
        for h in hits {
            let p = h["path"].as_str().unwrap();
            if !order.contains(&p) {
                order.push(p);
            }
        }
        let grouped_order: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert_eq!(grouped_order, order, "{q}");
        for f in files {
            let path = f["path"].as_str().unwrap();
            let file_hits: BTreeSet<(u64, u64)> = hits
                .iter()
                .filter(|h| h["path"] == path)
                .map(|h| {
                    (
                        h["abs_start"].as_u64().unwrap(),
                        h["abs_end"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                f["matches"].as_u64().unwrap() as usize,
                file_hits.len(),
                "{q} {path}"
            );
            let content = std::fs::read_to_string(src.join(path)).unwrap();
            let lines: Vec<&str> = content.lines().collect();
            let chunks = f["chunks"].as_array().unwrap();
            assert!(chunks.len() <= 3);
            let mut seen = BTreeSet::new();
            let mut last_terms = u64::MAX;
            for c in chunks {
                let start = c["start_line"].as_u64().unwrap() as usize;
                let shown: Vec<&str> = c["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap())
                    .collect();
                assert_eq!(
                    shown,
                    lines[start - 1..start - 1 + shown.len()],
                    "{q} {path}"
                );
                for m in c["matches"].as_array().unwrap() {
                    let key = (
                        m["abs_start"].as_u64().unwrap(),
                        m["abs_end"].as_u64().unwrap(),
                    );
                    assert!(file_hits.contains(&key), "{q} {path}: {m} is no hit");
                    assert!(seen.insert(key), "{q} {path}: {m} in two chunks");
                    let line = m["line"].as_u64().unwrap() as usize;
                    assert!(
                        line >= start && line < start + shown.len(),
                        "{q} {path}: {m}"
                    );
                    // Context around the match is inside the chunk.
                    assert!(
                        line.saturating_sub(context).max(1) >= start,
                        "{q} {path}: {m}"
                    );
                }
                let terms = c["terms"].as_u64().unwrap();
                assert!(
                    terms <= last_terms,
                    "{q} {path}: chunks not ranked by terms"
                );
                last_terms = terms;
            }
            if f["more_chunks"] == 0 {
                assert_eq!(seen, file_hits, "{q} {path}: hits missing from the chunks");
            } else {
                assert!(seen.len() < file_hits.len(), "{q} {path}");
            }
        }
    }
    // In big.txt the chunks with both terms come first.
    let g = call(
        &state,
        "GET",
        "/search?q=alpha+or+omega&exhaustive=true&limit=1000&context=0&group=file",
        None,
        None,
        &[],
    )
    .await
    .json();
    let big = g["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "big.txt")
        .unwrap();
    assert_eq!(big["chunks"][0]["terms"], 2, "{big}");
    assert_eq!(big["chunks"][0]["lines"][0], "alpha and omega");
    assert!(big["more_chunks"].as_u64().unwrap() > 0, "{big}");
    let bad = call(&state, "GET", "/search?q=alpha&group=repo", None, None, &[]).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "invalid_parameters");
}

/// `/mcp` in-process: the same admission layer (keys, scopes, rate limits,
/// audit, trace ids) and the same answers as `/search` and the navigation
/// routes. Real MCP clients are tested in scripts/mcp/test_clients.py.
mod mcp {
    use super::*;

    pub const META: &str = r#"{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}"#;
    pub const TOOLS_LIST: &str = r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}}"#;

    pub fn headers(method: &'static str) -> [(&'static str, &'static str); 4] {
        [
            ("host", "localhost"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", method),
        ]
    }

    fn tool_call(name: &str, args: serde_json::Value) -> String {
        let meta: serde_json::Value = serde_json::from_str(META).unwrap();
        serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"_meta": meta, "name": name, "arguments": args}})
        .to_string()
    }

    async fn call_tool(
        f: &Fixture,
        key: Option<&str>,
        name: &str,
        args: serde_json::Value,
    ) -> Reply {
        let body = tool_call(name, args);
        let mut h = headers("tools/call").to_vec();
        h.push(("mcp-name", name));
        call(&f.state, "POST", "/mcp", key, Some(&body), &h).await
    }

    /// A GET on the HTTP API with the search key.
    async fn get(f: &Fixture, uri: &str) -> Reply {
        call(&f.state, "GET", uri, Some("k-search"), None, &[]).await
    }

    /// The `result` of a JSON-RPC reply.
    fn result(r: &Reply) -> serde_json::Value {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        assert!(v["error"].is_null(), "{v}");
        v["result"].clone()
    }

    #[tokio::test]
    async fn lists_every_tool_with_a_description_and_a_schema() {
        let f = fixture(Policy::Enforce, LimitsConfig::default());
        let h = headers("tools/list");
        let r = call(
            &f.state,
            "POST",
            "/mcp",
            Some("k-search"),
            Some(TOOLS_LIST),
            &h,
        )
        .await;
        assert_common_headers(&r);
        let tools = result(&r)["tools"].as_array().unwrap().clone();
        let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "search",
                "find_symbol",
                "definition",
                "references",
                "hover",
                "read_file",
                "list_repositories"
            ]
        );
        for t in &tools {
            assert!(t["description"].as_str().unwrap().len() > 100, "{t}");
            assert_eq!(t["inputSchema"]["type"], "object", "{t}");
            assert_eq!(t["annotations"]["readOnlyHint"], true, "{t}");
        }
        let search = &tools[0];
        assert_eq!(
            search["inputSchema"]["required"],
            serde_json::json!(["query"])
        );
        assert!(search["description"].as_str().unwrap().contains("sym:"));
    }

    #[tokio::test]
    async fn search_answers_as_the_http_route_does() {
        let f = fixture(Policy::Enforce, LimitsConfig::default());
        let http = get(&f, "/search?q=needle&limit=10").await;
        assert_eq!(http.status, 200);
        let http = http.json();
        let r = call_tool(
            &f,
            Some("k-search"),
            "search",
            serde_json::json!({"query": "needle", "limit": 10, "max_bytes": 200000}),
        )
        .await;
        let trace = r.headers["x-trace-id"].to_str().unwrap().to_string();
        let res = result(&r);
        assert_eq!(res["isError"], false);
        let s = &res["structuredContent"];
        let spans = |v: &serde_json::Value| -> Vec<(String, String, u64, u64, u64)> {
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| {
                    (
                        h["repo"].as_str().unwrap().to_string(),
                        h["path"].as_str().unwrap().to_string(),
                        h["line"].as_u64().unwrap(),
                        h["abs_start"].as_u64().unwrap(),
                        h["abs_end"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        assert_eq!(spans(s), spans(&http));
        assert_eq!(s["shown"], 10);
        assert_eq!(s["trace_id"], trace.as_str());
        assert_eq!(s["release"], http["release"]);
        let text = res["content"][0]["text"].as_str().unwrap();
        for (_, path, line, _, _) in spans(s) {
            assert!(
                text.contains(&format!("proj/{path}")),
                "{path} not in {text}"
            );
            assert!(
                text.contains(&format!("{line:>6}:")),
                "line {line} not in {text}"
            );
        }
        assert!(text.contains("beyond limit=10"), "{text}");
        // A small budget shows fewer results and says how many were left out.
        let r = call_tool(
            &f,
            Some("k-search"),
            "search",
            serde_json::json!({"query": "needle", "limit": 10, "max_bytes": 400}),
        )
        .await;
        let res = result(&r);
        let text = res["content"][0]["text"].as_str().unwrap();
        assert!(text.len() <= 400 + 400, "{} bytes: {text}", text.len());
        let shown = res["structuredContent"]["shown"].as_u64().unwrap();
        assert!((1..10).contains(&shown), "{shown}");
        assert!(
            text.contains(&format!(
                "{} more results did not fit max_bytes=400",
                10 - shown
            )),
            "{text}"
        );
        let m = call(&f.state, "GET", "/metrics", Some("k-ops"), None, &[]).await;
        let m = String::from_utf8(m.body).unwrap();
        assert!(
            m.contains(r#"lens_mcp_tool_calls_total{tool="search",outcome="ok"} 2"#),
            "{m}"
        );
    }

    #[tokio::test]
    async fn a_bad_call_is_a_tool_error_with_the_api_code() {
        let f = fixture(Policy::Enforce, LimitsConfig::default());
        let http = get(&f, "/search?q=%2Ffoo(%2F").await;
        assert_eq!(http.status, 400);
        let r = call_tool(
            &f,
            Some("k-search"),
            "search",
            serde_json::json!({"query": "/foo(/"}),
        )
        .await;
        let res = result(&r);
        assert_eq!(res["isError"], true);
        assert_eq!(res["structuredContent"]["error"], http.json()["error"]);
        for (tool, args, code) in [
            (
                "read_file",
                serde_json::json!({"repo": "proj", "path": "nope.rs"}),
                "not_found",
            ),
            (
                "read_file",
                serde_json::json!({"repo": "proj", "path": "lib.py", "start_line": 99}),
                "invalid_position",
            ),
            (
                "definition",
                serde_json::json!({"repo": "proj", "path": "lib.py", "line": 99, "character": 0}),
                "invalid_position",
            ),
            (
                "search",
                serde_json::json!({"query": "needle", "limit": 0}),
                "invalid_limit",
            ),
            (
                "search",
                serde_json::json!({"query": "needle", "colour": "red"}),
                "invalid_parameters",
            ),
            (
                "search",
                serde_json::json!({"query": "needle", "max_bytes": 1}),
                "invalid_parameters",
            ),
            (
                "find_symbol",
                serde_json::json!({"name": "two words"}),
                "invalid_query",
            ),
        ] {
            let res = result(&call_tool(&f, Some("k-search"), tool, args.clone()).await);
            assert_eq!(res["isError"], true, "{tool} {args}");
            assert_eq!(
                res["structuredContent"]["error"]["code"], code,
                "{tool} {args}: {res}"
            );
        }
        // An unknown tool is a protocol error (the session is not broken by it).
        let r = call_tool(&f, Some("k-search"), "rm_rf", serde_json::json!({})).await;
        assert_eq!(
            r.json()["error"]["code"],
            -32602,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }

    #[tokio::test]
    async fn keys_scopes_rate_limits_and_hosts_apply() {
        let f = fixture(Policy::Enforce, LimitsConfig::default());
        let r = call_tool(&f, None, "search", serde_json::json!({"query": "needle"})).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"]["code"], "missing_key");
        let r = call_tool(
            &f,
            Some("k-ops"),
            "search",
            serde_json::json!({"query": "needle"}),
        )
        .await;
        assert_eq!(r.status, 403);
        let audit = std::fs::read_to_string(&f.audit).unwrap();
        assert!(
            audit
                .lines()
                .any(|l| l.contains(r#""route":"/mcp""#) && l.contains("deny")),
            "{audit}"
        );
        // A Host outside [mcp] allowed_hosts (DNS rebinding) is refused.
        let body = tool_call("list_repositories", serde_json::json!({}));
        let mut h = headers("tools/call").to_vec();
        h[0] = ("host", "evil.example");
        let r = call(&f.state, "POST", "/mcp", Some("k-search"), Some(&body), &h).await;
        assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
        let limited = fixture(
            Policy::Enforce,
            LimitsConfig {
                requests_per_second: 1,
                burst: 1,
                ..LimitsConfig::default()
            },
        );
        let first = call_tool(
            &limited,
            Some("k-search"),
            "list_repositories",
            serde_json::json!({}),
        )
        .await;
        assert_eq!(result(&first)["isError"], false);
        let second = call_tool(
            &limited,
            Some("k-search"),
            "list_repositories",
            serde_json::json!({}),
        )
        .await;
        assert_eq!(second.status, 429);
    }

    #[tokio::test]
    async fn navigation_and_files_match_their_routes() {
        let f = fixture(Policy::Enforce, LimitsConfig::default());
        let q = "repo=proj&path=src/m3.rs&line=1&character=17";
        for (tool, route) in [("definition", "/definition"), ("references", "/references")] {
            let http = get(&f, &format!("{route}?{q}")).await;
            assert_eq!(http.status, 200);
            let http = http.json();
            let res = result(&call_tool(&f, Some("k-search"), tool,
                serde_json::json!({"repo": "proj", "path": "src/m3.rs", "line": 1, "character": 17, "max_bytes": 200000})).await);
            assert_eq!(res["isError"], false, "{res}");
            assert_eq!(
                res["structuredContent"]["locations"], http["locations"],
                "{tool}"
            );
            assert!(
                !http["locations"].as_array().unwrap().is_empty(),
                "{tool}: {http}"
            );
        }
        let http = get(&f, "/file?repo=proj&path=lib.py").await.json();
        let res = result(
            &call_tool(
                &f,
                Some("k-search"),
                "read_file",
                serde_json::json!({"repo": "proj", "path": "lib.py"}),
            )
            .await,
        );
        assert_eq!(res["structuredContent"]["content"], http["content"]);
        assert!(
            res["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("     2:     return 'needle'")
        );
        let res = result(
            &call_tool(
                &f,
                Some("k-search"),
                "list_repositories",
                serde_json::json!({}),
            )
            .await,
        );
        assert_eq!(res["structuredContent"]["repositories"][0]["name"], "proj");
        assert_eq!(res["structuredContent"]["files"], 41);
    }
}

//! The release machinery against real processes: `kill -9` during state
//! changes, the CLI and the server changing the state at once, and routing
//! over HTTP matching the bucket hash.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::release_harness::{Setup, file_state, free_port, generation_of, http, json};

#[test]
fn kill_9_during_state_changes_leaves_the_state_before_or_after() {
    let s = Setup::new();
    drop(s.serve()); // registers the stable release
    let o = s.cli(&["cut-rc", "--version", "1.1.0-rc.1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut changes_seen = 0;
    for round in 0..50 {
        let server = s.serve();
        let port = server.port;
        let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (acked, stop) = (acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (path, body) = if n.is_multiple_of(2) {
                        (
                            "/canary/killswitch",
                            format!("{{\"reason\": \"round {round} change {n}\"}}"),
                        )
                    } else {
                        ("/canary/progress", "{\"restart\": true}".to_string())
                    };
                    let (status, reply) = http(port, "POST", path, &body, &[]);
                    match status {
                        200 => {
                            if let Some(g) = generation_of(&reply) {
                                acked.fetch_max(g, std::sync::atomic::Ordering::SeqCst);
                            }
                        }
                        0 => break,
                        409 => {}
                        other => panic!("{path}: {other} {reply}"),
                    }
                    n += 1;
                }
            })
        };
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(30 + rng % 300));
        let before_kill = acked.load(std::sync::atomic::Ordering::SeqCst);
        let mut server = server;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        let last_acked = acked.load(std::sync::atomic::Ordering::SeqCst);
        let st = file_state(&s.state());
        // Every acknowledged change is there; at most the one in flight beyond it.
        assert!(
            st.generation >= last_acked && st.generation <= last_acked + 1,
            "round {round}: file generation {} after acknowledged {last_acked} (before the kill {before_kill})",
            st.generation
        );
        let pct = st.traffic_percent();
        assert!(pct == 0.0 || pct == 5.0, "round {round}: traffic {pct}");
        changes_seen += usize::from(last_acked > 0);
    }
    assert!(
        changes_seen >= 45,
        "only {changes_seen} rounds changed anything"
    );
}

#[test]
fn the_cli_and_the_server_changing_the_state_at_once_lose_nothing() {
    let s = Setup::new();
    let server = s.serve();
    let o = s.cli(&["cut-rc", "--version", "1.1.0-rc.1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let g0 = file_state(&s.state()).generation;
    const EACH: u64 = 25;
    let port = server.port;
    let http_side = std::thread::spawn(move || {
        for n in 0..EACH {
            let body = format!("{{\"reason\": \"http {n}\"}}");
            let (status, reply) = http(port, "POST", "/canary/killswitch", &body, &[]);
            assert_eq!(status, 200, "{reply}");
        }
    });
    for n in 0..EACH {
        let o = s.cli(&["canary", "kill", "--reason", &format!("cli {n}")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    http_side.join().unwrap();
    let file = file_state(&s.state());
    assert_eq!(file.generation, g0 + 2 * EACH, "a write was lost");
    // The server notices the CLI's writes within a second.
    std::thread::sleep(Duration::from_millis(1500));
    let (_, body) = http(port, "GET", "/canary/status", "", &[]);
    assert_eq!(generation_of(&body), Some(file.generation), "{body}");
}

#[test]
fn over_http_each_client_keeps_the_arm_its_bucket_gives() {
    let s = Setup::new();
    let server = s.serve_candidate_at_first_stage();
    let mut candidates = 0;
    for i in 0..1000 {
        let client = format!("user-{i}");
        let expected = lens_core::release::route(
            // The identity the server hashes: `client:` + X-Client-Id (else `key:ID`, else `ip:ADDR`).
            lens_core::release::bucket("1.1.0-rc.1", &format!("client:{client}")),
            5.0,
        );
        for _ in 0..2 {
            let (status, reply) = http(
                server.port,
                "GET",
                "/search?q=handler_1&limit=1",
                "",
                &[("X-Client-Id", &client)],
            );
            assert_eq!(status, 200);
            let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
            assert_eq!(v["release"]["arm"], expected.as_str(), "{client}");
            let version = if expected == lens_core::release::Arm::Candidate {
                "1.1.0-rc.1"
            } else {
                "1.0.0"
            };
            assert_eq!(v["release"]["version"], version);
        }
        candidates += usize::from(expected == lens_core::release::Arm::Candidate);
    }
    assert!(
        (30..=70).contains(&candidates),
        "{candidates} of 1000 on the candidate at 5%"
    );
}

/// MCP's `search` goes through the same release router: each client's calls
/// land on the arm its bucket gives, and the kill switch sends them all to stable.
#[test]
fn mcp_calls_follow_the_canary_and_the_kill_switch() {
    let s = Setup::new();
    let server = s.serve_candidate_at_first_stage();
    let meta = r#"{"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}"#;
    let body = format!(
        r#"{{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {{"_meta": {meta}, "name": "search", "arguments": {{"query": "handler_1", "limit": 1}}}}}}"#
    );
    let mcp_arm = |client: &str| -> String {
        let (status, reply) = http(
            server.port,
            "POST",
            "/mcp",
            &body,
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json, text/event-stream"),
                ("MCP-Protocol-Version", "2026-07-28"),
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "search"),
                ("X-Client-Id", client),
            ],
        );
        assert_eq!(status, 200, "{reply}");
        let v = json(&reply);
        assert_eq!(v["result"]["isError"], false, "{reply}");
        let release = &v["result"]["structuredContent"]["release"];
        let arm = release["arm"].as_str().unwrap().to_string();
        let version = if arm == "candidate" {
            "1.1.0-rc.1"
        } else {
            "1.0.0"
        };
        assert_eq!(release["version"], version, "{reply}");
        arm
    };
    let mut candidates = 0;
    // Few enough calls not to load the machine for the tests beside it.
    for i in 0..150 {
        let client = format!("agent-{i}");
        let expected = lens_core::release::route(
            lens_core::release::bucket("1.1.0-rc.1", &format!("client:{client}")),
            5.0,
        );
        assert_eq!(mcp_arm(&client), expected.as_str(), "{client}");
        candidates += usize::from(expected == lens_core::release::Arm::Candidate);
    }
    assert!(candidates > 0, "no client of 150 on the candidate at 5%");
    let (status, reply) = http(
        server.port,
        "POST",
        "/canary/killswitch",
        "{\"reason\": \"mcp test\"}",
        &[],
    );
    assert_eq!(status, 200, "{reply}");
    for i in 0..150 {
        assert_eq!(mcp_arm(&format!("agent-{i}")), "stable");
    }
}

#[test]
fn a_torn_state_file_sends_the_candidate_nothing_and_degrades_health() {
    let s = Setup::new();
    let server = s.serve_candidate_at_first_stage();
    // Tear the file as a crash in the middle of a non-atomic write would.
    let path = s.state().join("rollout.json");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (_, body) = http(server.port, "GET", "/canary/status", "", &[]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["canary_deployment"]["trafficPercentage"], 0.0, "{body}");
    assert_eq!(v["canary_deployment"]["state"]["trusted"], false, "{body}");
    let (_, health) = http(server.port, "GET", "/health", "", &[]);
    let h: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(h["status"], "degraded", "{health}");
    assert!(
        h["reasons"].to_string().contains("cannot be trusted"),
        "{health}"
    );
    for i in 0..200 {
        let (_, reply) = http(
            server.port,
            "GET",
            "/search?q=handler_1&limit=1",
            "",
            &[("X-Client-Id", &format!("c{i}"))],
        );
        assert!(reply.contains("\"arm\":\"stable\""), "{reply}");
    }
    // Writes refuse to overwrite the evidence; the kill switch says it is already at 0%.
    let (status, reply) = http(
        server.port,
        "POST",
        "/canary/killswitch",
        "{\"reason\": \"x\"}",
        &[],
    );
    assert_eq!(status, 503, "{reply}");
    assert_eq!(std::fs::read(&path).unwrap(), &bytes[..bytes.len() / 2]);
    // A newer format is not trusted either.
    std::fs::write(&path, b"{\"format\":99,\"checksum\":\"0\",\"state\":{}}\n").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let (_, body) = http(server.port, "GET", "/canary/status", "", &[]);
    assert!(body.contains("newer"), "{body}");
}

/// A real Prometheus (Debian's) scrapes a live `lens serve` and evaluates
/// `dashboards/prometheus/lens-alerts.yml`: nothing fires on a quiet server;
/// pulling the kill switch makes `LensKillSwitchTriggered` fire in
/// Prometheus's own `/api/v1/alerts`.
#[test]
fn a_real_prometheus_fires_the_kill_switch_and_quality_gate_alerts() {
    let prometheus = "/usr/bin/prometheus";
    assert!(
        Path::new(prometheus).exists(),
        "{prometheus} is missing: .ci/run installs Debian's prometheus"
    );
    let s = Setup::new();
    let server = s.serve();
    assert!(
        s.cli(&["cut-rc", "--version", "1.1.0-rc.1"])
            .status
            .success()
    );
    let work = s.dir.path().join("prometheus");
    std::fs::create_dir_all(&work).unwrap();
    let rules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/prometheus/lens-alerts.yml");
    std::fs::write(
        work.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: lens\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            rules.canonicalize().unwrap().display(),
            server.port
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let mut prom = std::process::Command::new(prometheus)
        .arg(format!(
            "--config.file={}",
            work.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            work.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let alerts = || -> Vec<(String, String)> {
        let (_, body) = http(prom_port, "GET", "/api/v1/alerts", "", &[]);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["data"]["alerts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        (
                            x["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                            x["state"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let scraped = || {
        let q = "/api/v1/query?query=lens_canary_killswitch_active";
        let (_, body) = http(prom_port, "GET", q, "", &[]);
        body.contains("\"result\":[{")
    };
    let t = Instant::now();
    while !scraped() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "Prometheus never scraped lens"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    std::thread::sleep(Duration::from_secs(3));
    let quiet: Vec<_> = alerts()
        .into_iter()
        .filter(|(_, state)| state == "firing")
        .collect();
    assert!(
        quiet.is_empty(),
        "alerts firing on a quiet server: {quiet:?}"
    );
    let (status, body) = http(
        server.port,
        "POST",
        "/canary/killswitch",
        "{\"reason\": \"alert drill\"}",
        &[],
    );
    assert_eq!(status, 200, "{body}");
    let t = Instant::now();
    loop {
        let now = alerts();
        if now
            .iter()
            .any(|(n, s)| n == "LensKillSwitchTriggered" && s == "firing")
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the kill switch alert never fired: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // A candidate that lost a fifth of the files fails a quality gate.
    let reduced = s.dir.path().join("reduced");
    for i in (0..30).filter(|i| i % 5 != 0) {
        let from = s.dir.path().join(format!("proj/src/m{i}.rs"));
        crate::common::write(
            &reduced,
            &format!("src/m{i}.rs"),
            &std::fs::read(from).unwrap(),
        );
    }
    let o = s.cli(&[
        "cut-rc",
        "--version",
        "1.1.0-rc.2",
        &format!("proj={}", reduced.display()),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::thread::sleep(Duration::from_millis(1500));
    let (status, body) = http(server.port, "POST", "/validation/quality-gates", "", &[]);
    assert_eq!(status, 200, "{body}");
    let t = Instant::now();
    loop {
        let now = alerts();
        if now
            .iter()
            .any(|(n, s)| n == "LensQualityGateFailed" && s == "firing")
        {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            let (_, m) = http(server.port, "GET", "/metrics", "", &[]);
            let (_, a) = http(prom_port, "GET", "/api/v1/alerts", "", &[]);
            let gates: Vec<&str> = m
                .lines()
                .filter(|l| l.starts_with("lens_quality_gate_status"))
                .collect();
            panic!("the quality-gate alert never fired: {now:?}\n{gates:?}\n{a}\n{body}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = prom.kill();
    let _ = prom.wait();
}

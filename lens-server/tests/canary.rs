//! The release machinery against real processes: `kill -9` during state
//! changes, the CLI and the server changing the state at once, and routing
//! over HTTP matching the bucket hash.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lens_core::release::{StateRead, read};

use crate::common::{index, lens, run, write};

/// A small real tree, its bundle, a store with a candidate cut at 0%.
struct Setup {
    dir: tempfile::TempDir,
    bundle: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("proj");
        for i in 0..30 {
            write(
                &src,
                &format!("src/m{i}.rs"),
                format!(
                    "pub fn handler_{i}() -> u32 {{ needle_{}() + {i} }}\npub fn needle_{i}() -> u32 {{ {i} }}\n",
                    (i + 1) % 30
                )
                .as_bytes(),
            );
        }
        let bundle = dir.path().join("bundle");
        index(&[&src], &bundle, &["--bundle-version", "1.0.0"]);
        Setup { dir, bundle }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn config(&self, port: u16) -> PathBuf {
        let p = self.dir.path().join("lens.toml");
        std::fs::write(
            &p,
            format!(
                "listen = \"127.0.0.1:{port}\"\npolicy = \"permissive\"\naudit_log = \"{}\"\n\
                 [limits]\nrequests_per_second = 100000\nburst = 100000\n\
                 [canary]\nsoak_seconds = [0, 0, 0]\nauto_progress = [false, false, false]\n\
                 [validation]\nnightly_at = \"\"\n",
                self.dir.path().join("audit.jsonl").display()
            ),
        )
        .unwrap();
        p
    }

    fn serve(&self) -> Server {
        let port = free_port();
        serve_with(self, &self.config(port), port)
    }

    /// A server whose candidate 1.1.0-rc.1 (cut by the CLI) serves its first stage.
    fn serve_candidate_at_first_stage(&self) -> Server {
        let server = self.serve();
        let o = self.cli(&["cut-rc", "--version", "1.1.0-rc.1"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // The server notices the new candidate within a second.
        std::thread::sleep(Duration::from_millis(1500));
        let (status, body) = http(server.port, "POST", "/canary/progress", "", &[]);
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["canary_deployment"]["candidate_loaded"], true, "{body}");
        server
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        let state = self.state();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--state", state.to_str().unwrap()]);
        run(&all)
    }
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request; (status, body). Status 0 when the server is gone.
fn http(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = String::new();
    if s.read_to_string(&mut out).is_err() {
        return (0, String::new());
    }
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or(("", ""));
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    (
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_string()
        },
    )
}

/// The body of a chunked HTTP/1.1 response.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].strip_prefix("\r\n").unwrap_or(&after[n..]);
    }
    out
}

fn generation_of(body: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["canary_deployment"]["generation"].as_u64()
}

fn file_state(state: &Path) -> lens_core::release::RolloutState {
    match read(&state.join("rollout.json")) {
        StateRead::Ok(s) => *s,
        other => panic!("the state file is not a whole state: {other:?}"),
    }
}

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
    let _quiet = crate::common::quiet_machine();
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
    let _quiet = crate::common::quiet_machine();
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

/// A config with drills on, the scheduler off and release notes for
/// 1.1.0-rc.1. The tests run beside each other on two cores: a 5 ms tail
/// floor keeps a descheduled search at sub-millisecond p95 from failing the
/// nights these tests are about (`tail_latency` itself is tested with planted
/// spikes in validation/tests/gates.rs).
fn night_config(s: &Setup, port: u16, drills: bool) -> PathBuf {
    let notes = s.dir.path().join("UPGRADE.md");
    std::fs::write(
        &notes,
        "# Upgrading\n\n## 1.1.0-rc.1\nThe test candidate.\n",
    )
    .unwrap();
    let p = s.dir.path().join(format!("nights-{drills}.toml"));
    std::fs::write(
        &p,
        format!(
            "listen = \"127.0.0.1:{port}\"\npolicy = \"permissive\"\naudit_log = \"{}\"\n\
             [limits]\nrequests_per_second = 100000\nburst = 100000\n\
             [canary]\nsoak_seconds = [0, 0, 0]\nauto_progress = [false, false, false]\n\
             [drills]\nenabled = {drills}\n\
             [validation]\nnightly_at = \"\"\nnight_minutes = 5\nrelease_notes = \"{}\"\n\
             tail_floor_ms = 5.0\n",
            s.dir.path().join("audit.jsonl").display(),
            notes.display()
        ),
    )
    .unwrap();
    p
}

fn serve_with(s: &Setup, config: &Path, port: u16) -> Server {
    let child = lens()
        .args(["serve", "--model", "none", "--bundle"])
        .arg(&s.bundle)
        .arg("--config")
        .arg(config)
        .arg("--state")
        .arg(s.state())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    let t = Instant::now();
    while http(port, "GET", "/health", "", &[]).0 != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// Puts the candidate at its last stage (100%) directly in the store, as
/// the canary would after its stages; the server notices the generation.
fn candidate_to_full(state: &Path) {
    lens_core::release::update::<std::convert::Infallible, _>(
        &state.join("rollout.json"),
        &state.join("rollout.lock"),
        |cur| {
            let mut next = cur.clone();
            let c = next.candidate.as_mut().expect("a candidate");
            c.phase = lens_core::release::Phase::Rolling;
            c.stage_index = Some(c.stages.len() - 1);
            next.generation += 1;
            Ok(next)
        },
    )
    .unwrap();
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn answering_release(port: u16) -> String {
    let (status, body) = http(port, "GET", "/search?q=handler_1&limit=1", "", &[]);
    assert_eq!(status, 200, "{body}");
    json(&body)["release"]["version"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn three_forced_nights_sign_off_and_the_cli_promotes_and_rolls_back() {
    let _quiet = crate::common::quiet_machine();
    let s = Setup::new();
    let port = free_port();
    let config = night_config(&s, port, true);
    let server = serve_with(&s, &config, port);
    let cfg = config.to_str().unwrap();
    let o = s.cli(&["cut-rc", "--version", "1.1.0-rc.1", "--config", cfg]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::thread::sleep(Duration::from_millis(1500));
    // Nothing is promotable before a night.
    let o = s.cli(&["check-signoff", "--version", "1.1.0-rc.1", "--config", cfg]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // Forcing night 2 before night 1 is refused.
    let (status, body) = http(
        port,
        "POST",
        "/validation/nightly",
        r#"{"force_night": 2}"#,
        &[],
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["error"]["code"], "night_refused");
    for n in 1..=3 {
        let (status, body) = http(
            port,
            "POST",
            "/validation/nightly",
            &format!(r#"{{"force_night": {n}, "duration_minutes": 1}}"#),
            &[],
        );
        assert_eq!(status, 200, "{body}");
        let v = json(&body);
        assert_eq!(v["night"]["night"], n);
        assert_eq!(v["night"]["passed"], true, "{body}");
        assert!(v["night"]["replay"]["requests"].as_u64().unwrap() > 0);
        assert_eq!(v["validation_status"]["consecutive_passes"], n);
    }
    // Signed off, but at 0%: not promotable, and it says why.
    let (_, body) = http(port, "GET", "/validation/status", "", &[]);
    let v = json(&body);
    assert_eq!(v["validation_status"]["signed_off"], true, "{body}");
    assert_eq!(v["validation_status"]["promotion_ready"], false, "{body}");
    let o = s.cli(&["promote", "--version", "1.1.0-rc.1", "--config", cfg]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("100%"));
    candidate_to_full(&s.state());
    std::thread::sleep(Duration::from_millis(1500));
    let (_, body) = http(port, "GET", "/validation/status", "", &[]);
    assert_eq!(
        json(&body)["validation_status"]["promotion_ready"],
        true,
        "{body}"
    );
    let (_, metrics) = http(port, "GET", "/metrics", "", &[]);
    assert!(
        metrics.lines().any(|l| l == "lens_promotion_ready 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "lens_validation_consecutive_passes 3")
    );
    let (status, md) = http(port, "GET", "/validation/signoff-report?format=md", "", &[]);
    assert_eq!(status, 200);
    assert!(md.contains("Decision: **promotable**"), "{md}");
    let (status, _) = http(
        port,
        "GET",
        "/validation/signoff-report?format=pdf",
        "",
        &[],
    );
    assert_eq!(status, 400);
    let o = s.cli(&["check-signoff", "--version", "1.1.0-rc.1", "--config", cfg]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(answering_release(port), "1.1.0-rc.1"); // 100%: every client on the candidate
    let o = s.cli(&["promote", "--version", "1.1.0-rc.1", "--config", cfg]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::thread::sleep(Duration::from_millis(1500));
    let (_, body) = http(port, "GET", "/canary/status", "", &[]);
    assert_eq!(json(&body)["canary_deployment"]["stable"], "1.1.0-rc.1");
    assert_eq!(answering_release(port), "1.1.0-rc.1");
    let o = s.cli(&["rollback", "--reason", "test", "--config", cfg]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(answering_release(port), "1.0.0");
    // A second rollback has nothing to go back to.
    let o = s.cli(&["rollback", "--config", cfg]);
    assert_eq!(o.status.code(), Some(3));
    // Every change is in the audit log.
    let audit = std::fs::read_to_string(s.dir.path().join("audit.jsonl")).unwrap();
    for route in ["/validation/nightly", "lens promote", "lens rollback"] {
        assert!(audit.contains(route), "{route} not audited");
    }
    drop(server);
}

#[test]
fn forced_nights_need_drills_enabled() {
    let s = Setup::new();
    let port = free_port();
    let config = night_config(&s, port, false);
    let _server = serve_with(&s, &config, port);
    let cfg = config.to_str().unwrap();
    let (status, body) = http(port, "POST", "/validation/nightly", "", &[]);
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["error"]["code"], "night_refused"); // no candidate
    let o = s.cli(&["cut-rc", "--version", "1.1.0-rc.1", "--config", cfg]);
    assert!(o.status.success());
    std::thread::sleep(Duration::from_millis(1500));
    let (status, body) = http(
        port,
        "POST",
        "/validation/nightly",
        r#"{"force_night": 1}"#,
        &[],
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["error"]["code"], "drills_disabled");
    let o = s.cli(&["nightly-validation", "--force-night", "1", "--config", cfg]);
    assert_eq!(o.status.code(), Some(3));
    let (status, body) = http(
        port,
        "POST",
        "/validation/nightly",
        r#"{"duration_minutes": 0}"#,
        &[],
    );
    assert_eq!(status, 400, "{body}");
    let (status, _) = http(port, "POST", "/validation/nightly", r#"{"nights": 3}"#, &[]);
    assert_eq!(status, 400);
    // An unforced night is allowed and counts once on its date.
    for _ in 0..2 {
        let o = s.cli(&[
            "nightly-validation",
            "--duration",
            "1",
            "--json",
            "--config",
            cfg,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (_, body) = http(port, "GET", "/validation/status", "", &[]);
    let v = json(&body);
    assert_eq!(
        v["validation_status"]["nights"].as_array().unwrap().len(),
        2
    );
    assert_eq!(v["validation_status"]["consecutive_passes"], 1, "{body}");
}

#[test]
fn kill_9_during_nights_leaves_whole_records() {
    let _quiet = crate::common::quiet_machine();
    let s = Setup::new();
    let port = free_port();
    let config = night_config(&s, port, false);
    {
        let _server = serve_with(&s, &config, port); // registers the stable
        let o = s.cli(&[
            "cut-rc",
            "--version",
            "1.1.0-rc.1",
            "--config",
            config.to_str().unwrap(),
        ]);
        assert!(o.status.success());
    }
    let log = lens_core::release::NightLog::in_dir(&s.state().join("validation"));
    let spawn = || {
        lens()
            .args(["nightly-validation", "--duration", "1", "--config"])
            .arg(&config)
            .arg("--state")
            .arg(s.state())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let t = Instant::now();
    assert!(spawn().wait().unwrap().success());
    let full = t.elapsed();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let (mut killed, mut finished) = (0, 0);
    for _ in 0..12 {
        let before = log.read().unwrap().len();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let at = full.mul_f64((seed % 1000) as f64 / 1000.0 * 1.1);
        let mut child = spawn();
        std::thread::sleep(at);
        let done = child.try_wait().unwrap().is_some();
        let _ = child.kill();
        let _ = child.wait();
        if done {
            finished += 1
        } else {
            killed += 1
        }
        let nights = log.read().expect("the night log is whole after kill -9");
        assert!(
            nights.len() == before || nights.len() == before + 1,
            "{} nights after {before}",
            nights.len()
        );
        for (i, r) in nights.iter().enumerate() {
            assert_eq!(r.night as usize, i + 1, "night numbers stay in sequence");
            assert!(
                !r.results.is_empty() && r.replay.is_some(),
                "a partial record"
            );
        }
    }
    assert!(
        killed >= 3,
        "only {killed} runs were killed mid-night ({finished} finished)"
    );
}

#[test]
fn the_scheduler_runs_a_due_night_on_the_candidate() {
    let _quiet = crate::common::quiet_machine();
    let s = Setup::new();
    let port = free_port();
    let config = night_config(&s, port, false);
    {
        let _server = serve_with(&s, &config, port);
        let o = s.cli(&[
            "cut-rc",
            "--version",
            "1.1.0-rc.1",
            "--config",
            config.to_str().unwrap(),
        ]);
        assert!(o.status.success());
        // The golden set is made at the cut and kept with the release.
        assert!(s.state().join("releases/1.1.0-rc.1/golden.json").is_file());
    }
    // Due since midnight, local time: the scheduler's first look runs it.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("nightly_at = \"\"", "nightly_at = \"00:00\"");
    std::fs::write(&config, text).unwrap();
    let _server = serve_with(&s, &config, port);
    let t = Instant::now();
    let nights = loop {
        let (_, body) = http(port, "GET", "/validation/status", "", &[]);
        let v = json(&body);
        let n = v["validation_status"]["nights"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !n.is_empty() {
            break n;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no scheduled night: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(nights[0]["kind"], "scheduled");
    assert_eq!(nights[0]["by"], "scheduler");
    // Once a day: a restart the same day (its first look is at once) runs none.
    drop(_server);
    let _server = serve_with(&s, &config, port);
    std::thread::sleep(Duration::from_secs(3));
    let (_, body) = http(port, "GET", "/validation/status", "", &[]);
    assert_eq!(
        json(&body)["validation_status"]["nights"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

//! Nights against a live server: forced nights to sign-off and promotion,
//! the drills switch, `kill -9` during nights, the scheduler.
//!
//! A night times searches against the runbook's budgets (`stage_a_p95`, 5 ms),
//! so these tests have a test binary of their own: cargo runs test binaries
//! one after another, and the lock below runs these one at a time, so no
//! other test's load is timed.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
mod release_harness;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::lens;
use release_harness::{Setup, free_port, http, json, serve_with};

/// One night at a time in this binary.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static NIGHTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    NIGHTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A config with drills on, the scheduler off and release notes for
/// 1.1.0-rc.1. The host is shared: a 5 ms tail floor keeps one descheduled
/// search at sub-millisecond p95 from failing the nights these tests are
/// about (`tail_latency` itself is tested with planted spikes in
/// validation/tests/gates.rs).
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
    let _one = one_at_a_time();
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
    let _one = one_at_a_time();
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
    let _one = one_at_a_time();
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
    let _one = one_at_a_time();
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

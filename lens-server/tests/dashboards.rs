//! dashboards/ against the metrics `lens serve` exports, and promtool.

use std::collections::BTreeSet;
use std::path::PathBuf;

use lens_server::server::metrics::Metrics;

fn dashboards_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dashboards")
}

/// Every series name the registry can produce, from its `# TYPE` lines (label
/// families print them once they have a child, so each gets one).
fn exported_series() -> BTreeSet<String> {
    use lens_server::server::metrics::{
        DecisionLabel, OutcomeLabel, ReasonLabel, RouteLabel, RouteStatus, StageLabel,
    };
    let m = Metrics::new();
    m.requests
        .get_or_create(&RouteStatus {
            route: "/search".into(),
            status: 200,
        })
        .inc();
    m.request_seconds
        .get_or_create(&RouteLabel {
            route: "/search".into(),
        })
        .observe(0.001);
    m.stage_seconds
        .get_or_create(&StageLabel {
            stage: "stage_a".into(),
        })
        .observe(0.001);
    m.rejected
        .get_or_create(&ReasonLabel {
            reason: "invalid_regex".into(),
        })
        .inc();
    m.rate_limit
        .get_or_create(&DecisionLabel {
            decision: "allowed".into(),
        })
        .inc();
    m.semantic_gate
        .get_or_create(&DecisionLabel {
            decision: "code".into(),
        })
        .inc();
    m.stage_c_queries
        .get_or_create(&OutcomeLabel {
            outcome: "ran".into(),
        })
        .inc();
    // In the Prometheus text format a counter's TYPE already names its `_total` samples.
    let text = m.encode();
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut it = rest.split_whitespace();
        let (name, kind) = (it.next().unwrap(), it.next().unwrap());
        match kind {
            "histogram" => {
                for s in ["bucket", "sum", "count"] {
                    out.insert(format!("{name}_{s}"));
                }
            }
            _ => {
                out.insert(name.to_string());
            }
        }
    }
    out
}

fn referenced(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(off) = text[i..].find("lens_") {
        let start = i + off;
        let boundary =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if boundary {
            out.insert(text[start..end].to_string());
        }
        i = end;
    }
    out
}

#[test]
fn dashboards_use_only_exported_series() {
    let exported = exported_series();
    assert!(
        exported.contains("lens_stage_duration_seconds_bucket"),
        "{exported:?}"
    );
    let files = [
        "prometheus/lens-alerts.yml",
        "grafana/lens.json",
        "grafana/canary.json",
        "grafana/validation.json",
    ];
    let mut used = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(dashboards_dir().join(f)).unwrap();
        let refs = referenced(&text);
        assert!(!refs.is_empty(), "{f} references no lens series");
        for r in &refs {
            assert!(
                exported.contains(r),
                "{f} uses {r}, which lens does not export; exported: {exported:?}"
            );
        }
        used.extend(refs);
    }
    for f in [
        "grafana/lens.json",
        "grafana/canary.json",
        "grafana/validation.json",
    ] {
        let text = std::fs::read_to_string(dashboards_dir().join(f)).unwrap();
        let grafana: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            grafana["panels"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| !p["targets"].as_array().unwrap().is_empty()
                    && p["datasource"]["uid"] == "${datasource}"),
            "{f}: a panel without a query or off the datasource variable"
        );
        assert_eq!(
            grafana["templating"]["list"][0]["name"], "datasource",
            "{f}"
        );
        assert!(
            !text.contains("localhost") && !text.contains("http://"),
            "{f} names an instance"
        );
    }
    // Every exported family appears on the dashboard or in a rule.
    let families: BTreeSet<String> = exported
        .iter()
        .map(|s| {
            s.trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count")
                .to_string()
        })
        .collect();
    for fam in families {
        assert!(
            used.iter().any(|u| u.starts_with(&fam)),
            "{fam} is exported but on no dashboard or rule"
        );
    }
}

#[test]
fn promtool_accepts_the_rules() {
    let promtool = "/usr/bin/promtool";
    assert!(
        std::path::Path::new(promtool).exists(),
        "{promtool} is missing: .ci/run and scripts/test.sh install Debian's prometheus"
    );
    let out = std::process::Command::new(promtool)
        .args(["check", "rules"])
        .arg(dashboards_dir().join("prometheus/lens-alerts.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `/metrics` speaks the Prometheus text format by default (promtool finds
/// nothing to say about it), and OpenMetrics when asked.
#[test]
fn metrics_are_valid_prometheus_text_and_openmetrics() {
    let m = Metrics::new();
    m.shed.inc();
    let text = m.encode();
    assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
    assert!(
        text.contains("# TYPE lens_load_shed_total counter"),
        "{text}"
    );
    assert!(text.contains("# HELP lens_load_shed_total "), "{text}");
    // Families with known labels exist at zero before anything happened.
    for series in [
        "lens_rejected_queries_total{reason=\"invalid_regex\"} 0",
        "lens_stage_c_queries_total{outcome=\"ran\"} 0",
        "lens_canary_requests_total{arm=\"candidate\",outcome=\"error\"} 0",
    ] {
        assert!(text.contains(series), "{series} missing:\n{text}");
    }
    assert_eq!(promtool_check_metrics(&text), "", "promtool");
    let om = m.encode_openmetrics();
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains("# TYPE lens_load_shed counter"), "{om}");
}

/// `promtool test rules`: the alerts with cases in `lens-alerts.test.yml`
/// fire on a provoked breach and stay silent on a quiet series.
#[test]
fn promtool_rule_tests_fire_and_stay_silent() {
    let out = std::process::Command::new("/usr/bin/promtool")
        .args(["test", "rules"])
        .arg(dashboards_dir().join("prometheus/lens-alerts.test.yml"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.contains("SUCCESS"), "{said}");
}

/// The alert rules say the numbers `dashboards/thresholds.toml` says (the
/// dashboard's alerts and the canary read them from there too).
#[test]
fn alert_rules_use_the_one_source_of_thresholds() {
    let t = lens_core::thresholds::thresholds();
    let rules =
        std::fs::read_to_string(dashboards_dir().join("prometheus/lens-alerts.yml")).unwrap();
    let expr_of = |alert: &str| -> String {
        let start = rules
            .find(&format!("- alert: {alert}\n"))
            .unwrap_or_else(|| panic!("no alert {alert}"));
        let rest = &rules[start..];
        let expr = &rest[rest.find("expr:").unwrap()..];
        let end = expr
            .find("\n        for:")
            .or_else(|| expr.find("\n        labels:"))
            .unwrap();
        expr[..end].to_string()
    };
    let num = |x: f64| format!("{x}");
    let cases = [
        (
            "LensStageAP95Above5ms",
            format!("> {}", num(t.stage_a_p95_ms / 1000.0)),
        ),
        (
            "LensTailLatencyViolation",
            format!("> {} * histogram_quantile(0.95", num(t.tail_p99_over_p95)),
        ),
        ("LensErrorRateSpike", format!("> {}", num(t.error_rate))),
        (
            "LensStageBP95Above300ms",
            format!("> {}", num(t.stage_b_p95_ms / 1000.0)),
        ),
        (
            "LensStageCP95Above300ms",
            format!("> {}", num(t.stage_c_p95_ms / 1000.0)),
        ),
        (
            "LensSymbolCacheHitRateLow",
            format!("< {}", num(t.symbol_cache_hit_rate)),
        ),
        (
            "LensLsifCoverageRegression",
            format!("- {}", num(t.lsif_coverage_drop)),
        ),
        (
            "LensSemanticGatingRateLow",
            format!("< {}", num(t.semantic_gating_rate)),
        ),
        (
            "LensConfidenceCutoffRateLow",
            format!("< {}", num(t.confidence_cutoff_rate)),
        ),
        (
            "LensCanaryErrorRateHigh",
            format!("> {}", num(t.canary_error_rate)),
        ),
        (
            "LensSpanCoverageBelow98",
            format!("< {}", num(t.span_coverage)),
        ),
        (
            "LensAvailabilityBudgetFastBurn",
            format!("> {} * (1 - {})", num(t.burn_fast), num(t.availability_slo)),
        ),
        (
            "LensAvailabilityBudgetSlowBurn",
            format!("> {} * (1 - {})", num(t.burn_slow), num(t.availability_slo)),
        ),
        (
            "LensNightlyValidationMissed",
            format!("> {} * 3600", num(t.night_overdue_hours)),
        ),
    ];
    for (alert, wanted) in cases {
        let expr = expr_of(alert);
        assert!(
            expr.contains(&wanted),
            "{alert}: wanted `{wanted}` (dashboards/thresholds.toml) in {expr}"
        );
    }
    assert_eq!(
        lens_core::release::CanaryConfig::default().max_error_rate,
        t.canary_error_rate
    );
}

fn promtool_check_metrics(text: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("/usr/bin/promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        said.trim().to_string()
    } else {
        format!("failed: {said}")
    }
}

/// The inventory of a fresh `lens serve` (with a release store), scraped over
/// HTTP before any traffic: every series a dashboard or rule names is there,
/// every family has help text and a base unit, and promtool is silent on both
/// formats.
#[test]
fn a_fresh_live_server_exports_every_series_the_dashboards_and_rules_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("proj");
    crate::common::write(&src, "src/lib.rs", b"pub fn needle() -> u32 { 1 }\n");
    let bundle = dir.path().join("bundle");
    crate::common::index(&[&src], &bundle, &["--bundle-version", "1.0.0"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("lens.toml");
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:{port}\"\npolicy = \"permissive\"\n"),
    )
    .unwrap();
    let mut child = crate::common::lens()
        .args(["serve", "--model", "none", "--bundle"])
        .arg(&bundle)
        .arg("--config")
        .arg(&config)
        .arg("--state")
        .arg(dir.path().join("state"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let get = |accept: &str| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let (head, body) = out.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_string())
    };
    let t = std::time::Instant::now();
    let text = loop {
        if let Some(t) = get("text/plain") {
            break t;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let om = get("application/openmetrics-text; version=1.0.0").unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // Chunked bodies: keep only metric lines (hex chunk sizes are not).
    let clean = |b: &str| -> String {
        b.lines()
            .filter(|l| l.starts_with('#') || l.starts_with("lens_"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let (text, om) = (clean(&text), clean(&om));
    assert_eq!(
        promtool_check_metrics(&text),
        "",
        "promtool on the text format"
    );
    // promtool reads the Prometheus text format: on OpenMetrics its only
    // complaint may be that a counter's HELP names the family (`lens_x`)
    // while its samples are `lens_x_total`, which is what OpenMetrics asks.
    // A real Prometheus parses this format in canary::a_real_prometheus_*.
    assert!(om.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    let said = promtool_check_metrics(&om);
    for line in said.trim_start_matches("failed: ").lines() {
        let family = line
            .strip_suffix(" no help text")
            .and_then(|n| n.strip_suffix("_total"))
            .unwrap_or_else(|| panic!("promtool on OpenMetrics: {line}"));
        assert!(
            om.contains(&format!("# HELP {family} "))
                && om.contains(&format!("# TYPE {family} counter")),
            "{line}"
        );
    }
    let mut families = BTreeSet::new();
    let mut helped = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families.insert(rest.split_whitespace().next().unwrap().to_string());
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(!help.trim().is_empty(), "{name} has empty help");
            helped.insert(name.to_string());
        }
    }
    assert_eq!(families, helped, "every family has help text");
    for f in &families {
        for unit in [
            "_ms",
            "_milliseconds",
            "_minutes",
            "_kb",
            "_mb",
            "_kib",
            "_mib",
            "_percent_ratio",
        ] {
            assert!(!f.contains(unit), "{f}: use base units (seconds, bytes)");
        }
    }
    // Every series a dashboard or rule names is in the live scrape.
    let mut names = BTreeSet::new();
    for f in &families {
        names.insert(f.clone());
        for s in ["_bucket", "_sum", "_count", "_total"] {
            names.insert(format!("{f}{s}"));
        }
    }
    for f in [
        "prometheus/lens-alerts.yml",
        "grafana/lens.json",
        "grafana/canary.json",
        "grafana/validation.json",
    ] {
        let body = std::fs::read_to_string(dashboards_dir().join(f)).unwrap();
        let missing: Vec<String> = referenced(&body)
            .into_iter()
            .filter(|r| !names.contains(r))
            .collect();
        assert!(
            missing.is_empty(),
            "{f} names {missing:?}, which a fresh live server does not export"
        );
    }
    // Label sets known in advance are at zero before any traffic.
    for series in [
        "lens_rejected_queries_total{reason=\"invalid_regex\"} 0",
        "lens_canary_requests_total{arm=\"candidate\",outcome=\"error\"} 0",
        "lens_promotion_ready 0",
        "lens_validation_consecutive_passes 0",
        "lens_validation_seconds_since_night -1",
    ] {
        assert!(
            text.contains(series),
            "{series} missing from a fresh scrape"
        );
    }
}

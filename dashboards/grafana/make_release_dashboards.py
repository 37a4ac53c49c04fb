#!/usr/bin/env python3
"""Writes the canary and three-night validation Grafana dashboards (JSON, a
`datasource` variable, no instance hard-coded). Rerun after editing:
    python3 dashboards/grafana/make_release_dashboards.py
lens-server/tests/dashboards.rs checks every series they name is exported."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}


def panel(pid, kind, title, exprs, x, y, w=12, h=8, unit=None, legend=None, extra=None):
    p = {
        "id": pid, "type": kind, "title": title, "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit} if unit else {}, "overrides": []},
        "targets": [
            {"refId": chr(65 + i), "expr": e, "legendFormat": (legend or [""] * len(exprs))[i]}
            for i, e in enumerate(exprs)
        ],
    }
    if extra:
        p.update(extra)
    return p


def dashboard(uid, title, panels, tags):
    return {
        "title": title, "uid": uid, "schemaVersion": 39, "version": 1, "editable": True,
        "refresh": "30s", "time": {"from": "now-24h", "to": "now"}, "tags": ["lens"] + tags,
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]},
        "panels": panels,
    }


canary = dashboard("lens-canary", "lens: canary deployment", [
    panel(1, "stat", "Candidate traffic", ["lens_canary_traffic_percent"], 0, 0, 6, 4, "percent"),
    panel(2, "stat", "Kill switch", ["lens_canary_killswitch_active"], 6, 0, 6, 4,
          extra={"options": {"colorMode": "background"}}),
    panel(3, "stat", "Rollout state trusted", ["1 - lens_canary_state_unsafe"], 12, 0, 6, 4),
    panel(4, "stat", "State generation", ["lens_canary_state_generation"], 18, 0, 6, 4),
    panel(5, "timeseries", "Requests per arm", [
        'sum by (arm) (rate(lens_canary_requests_total[5m]))'], 0, 4, 12, 8, "reqps", ["{{arm}}"]),
    panel(6, "timeseries", "Error rate per arm", [
        'sum by (arm) (rate(lens_canary_requests_total{outcome="error"}[5m])) / sum by (arm) (rate(lens_canary_requests_total[5m]))'],
        12, 4, 12, 8, "percentunit", ["{{arm}}"]),
    panel(7, "timeseries", "Interval verdicts", [
        'sum by (verdict) (increase(lens_canary_intervals_total[10m]))'], 0, 12, 12, 8, "short", ["{{verdict}}"]),
    panel(8, "timeseries", "Rollbacks and kill-switch activations", [
        'increase(lens_canary_rollbacks_total[1h])', 'increase(lens_canary_killswitch_activations_total[1h])'],
        12, 12, 12, 8, "short", ["rollbacks", "kill switch"]),
    panel(9, "timeseries", "Stage-A p95 (both arms)", [
        'histogram_quantile(0.95, sum by (le) (rate(lens_stage_duration_seconds_bucket{stage="stage_a"}[5m])))'],
        0, 20, 24, 8, "s", ["p95"]),
], ["canary"])

validation = dashboard("lens-validation", "lens: three-night validation", [
    panel(1, "stat", "Promotion ready", ["lens_promotion_ready"], 0, 0, 6, 4,
          extra={"options": {"colorMode": "background"}}),
    panel(2, "stat", "Passing nights in a row (of 3)", ["lens_validation_consecutive_passes"], 6, 0, 6, 4),
    panel(3, "stat", "Last night passed", ["lens_validation_last_night_passed"], 12, 0, 6, 4),
    panel(4, "stat", "Since the candidate's last night", ["lens_validation_seconds_since_night"], 18, 0, 6, 4, "s"),
    panel(5, "table", "Quality gates (1 pass, 0 fail, -1 skipped)", ["lens_quality_gate_status"], 0, 4, 12, 10,
          legend=["{{gate}}"], extra={"options": {"showHeader": True}}),
    panel(6, "timeseries", "Gate values by run", ["lens_quality_gate_value"], 12, 4, 12, 10, legend=["{{gate}}"]),
    panel(7, "timeseries", "Span coverage (threshold 0.98)", ['lens_quality_gate_value{gate="span_coverage"}'],
          0, 14, 12, 8, "percentunit", ["span coverage"]),
    panel(8, "timeseries", "Nights recorded", ["lens_validation_nights_recorded"], 12, 14, 12, 8, "short", ["nights"]),
], ["validation"])

for name, d in [("canary.json", canary), ("validation.json", validation)]:
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")

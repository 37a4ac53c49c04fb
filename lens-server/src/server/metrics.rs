//! Prometheus metrics in base units; per-stage histograms start at 100 µs.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabel {
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ArmOutcome {
    pub arm: String,
    /// `ok` or `error` (5xx and timeouts).
    pub outcome: String,
}

/// An MCP tool and how its call ended (`ok`, or `error`: a tool error).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ToolOutcome {
    pub tool: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GateLabel {
    pub gate: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabel {
    pub verdict: String,
}

/// Nights and sign-off (`lens_validation_*`, `lens_promotion_ready`).
pub struct ValidationMetrics {
    pub consecutive_passes: Gauge,
    pub promotion_ready: Gauge,
    pub nights_recorded: Gauge,
    /// Seconds since the current candidate's last night started (since its
    /// cut when it has none); -1 without a candidate.
    pub seconds_since_night: Gauge,
    /// The current candidate's last night: 1 passed, 0 failed, -1 none.
    pub last_night_passed: Gauge,
}

impl ValidationMetrics {
    fn register(registry: &mut Registry) -> ValidationMetrics {
        let m = ValidationMetrics {
            consecutive_passes: Gauge::default(),
            promotion_ready: Gauge::default(),
            nights_recorded: Gauge::default(),
            seconds_since_night: Gauge::default(),
            last_night_passed: Gauge::default(),
        };
        m.seconds_since_night.set(-1);
        m.last_night_passed.set(-1);
        registry.register(
            "promotion_ready",
            "1 when the candidate is signed off (three passing nights) and the rollout would accept promote",
            m.promotion_ready.clone(),
        );
        let r = registry.sub_registry_with_prefix("validation");
        r.register(
            "consecutive_passes",
            "Passing nights in a row on the current candidate",
            m.consecutive_passes.clone(),
        );
        r.register(
            "nights_recorded",
            "Nights in the night log (every candidate)",
            m.nights_recorded.clone(),
        );
        r.register(
            "seconds_since_night",
            "Seconds since the candidate's last night started (since its cut before any); -1 without a candidate",
            m.seconds_since_night.clone(),
        );
        r.register(
            "last_night_passed",
            "The candidate's last night: 1 passed, 0 failed, -1 none yet or no candidate",
            m.last_night_passed.clone(),
        );
        m
    }
}

/// The canary's series (`lens_canary_*`).
pub struct CanaryMetrics {
    pub traffic_percent: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub requests: Family<ArmOutcome, Counter>,
    pub intervals: Family<VerdictLabel, Counter>,
    pub rollbacks: Counter,
    pub killswitch_active: Gauge,
    pub killswitch_activations: Counter,
    /// 1 when the rollout state could not be trusted (candidate held at 0%).
    pub state_unsafe: Gauge,
    pub state_generation: Gauge,
}

impl CanaryMetrics {
    fn register(registry: &mut Registry) -> CanaryMetrics {
        let m = CanaryMetrics {
            traffic_percent: Gauge::default(),
            requests: Family::default(),
            intervals: Family::default(),
            rollbacks: Counter::default(),
            killswitch_active: Gauge::default(),
            killswitch_activations: Counter::default(),
            state_unsafe: Gauge::default(),
            state_generation: Gauge::default(),
        };
        // Every label set exists from the start, so rate() and absence alerts work at once.
        for arm in ["stable", "candidate"] {
            for outcome in ["ok", "error"] {
                let _ = m.requests.get_or_create(&ArmOutcome {
                    arm: arm.into(),
                    outcome: outcome.into(),
                });
            }
        }
        for verdict in ["pass", "fail", "inconclusive"] {
            let _ = m.intervals.get_or_create(&VerdictLabel {
                verdict: verdict.into(),
            });
        }
        let r = registry.sub_registry_with_prefix("canary");
        r.register(
            "traffic_percent",
            "The candidate's share of search traffic, percent",
            m.traffic_percent.clone(),
        );
        r.register(
            "requests",
            "Searches by arm (stable, candidate) and outcome (ok, error)",
            m.requests.clone(),
        );
        r.register(
            "intervals",
            "Judged canary intervals by verdict (pass, fail, inconclusive)",
            m.intervals.clone(),
        );
        r.register(
            "rollbacks",
            "Automatic rollbacks of the candidate to 0%",
            m.rollbacks.clone(),
        );
        r.register(
            "killswitch_active",
            "1 while the kill switch holds the candidate at 0%",
            m.killswitch_active.clone(),
        );
        r.register(
            "killswitch_activations",
            "Kill switch activations",
            m.killswitch_activations.clone(),
        );
        r.register(
            "state_unsafe",
            "1 when the rollout state file cannot be trusted (candidate at 0%)",
            m.state_unsafe.clone(),
        );
        r.register(
            "state_generation",
            "Generation of the rollout state in use",
            m.state_generation.clone(),
        );
        m
    }
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

fn count_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 4.0, 12))
}

pub struct Metrics {
    pub registry: Registry,
    pub requests: Family<RouteStatus, Counter>,
    pub request_seconds: Family<RouteLabel, Histogram, fn() -> Histogram>,
    pub stage_seconds: Family<StageLabel, Histogram, fn() -> Histogram>,
    pub candidates: Histogram,
    pub matches: Histogram,
    pub early_terminations: Counter,
    pub timeouts: Counter,
    pub rejected: Family<ReasonLabel, Counter>,
    pub rate_limit: Family<DecisionLabel, Counter>,
    pub shed: Counter,
    /// Stage-B gauges, refreshed from the served bundle at each scrape.
    pub symbol_cache_hit_ratio: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub symbol_cache_lookups: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub precise_coverage_ratio: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub tags_query_compile_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Stage-C: the gate's decisions, what Stage-C did per natural-language query, the
    /// candidates it scored and cut off, and the model's state (refreshed at each scrape).
    pub semantic_gate: Family<DecisionLabel, Counter>,
    pub stage_c_queries: Family<OutcomeLabel, Counter>,
    pub stage_c_candidates_scored: Counter,
    pub stage_c_candidates_cut_off: Counter,
    pub model_loaded: Gauge,
    pub query_embedding_cache_hits: Gauge,
    pub query_embedding_cache_misses: Gauge,
    pub canary: CanaryMetrics,
    /// The last quality-gate run: 1 pass, 0 fail, -1 skipped, per gate.
    pub quality_gate_status: Family<GateLabel, Gauge>,
    /// The last quality-gate run's measured value per gate (NaN when it did not run).
    pub quality_gate_value: Family<GateLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub validation: ValidationMetrics,
    /// MCP tool calls (`/mcp`) by tool and outcome, and their latency.
    pub mcp_tool_calls: Family<ToolOutcome, Counter>,
    pub mcp_tool_seconds: Family<ToolOutcome, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("lens");
        let requests = Family::<RouteStatus, Counter>::default();
        let request_seconds =
            Family::<RouteLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            );
        let stage_seconds =
            Family::<StageLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            );
        let candidates = count_histogram();
        let matches = count_histogram();
        let early_terminations = Counter::default();
        let timeouts = Counter::default();
        let rejected = Family::<ReasonLabel, Counter>::default();
        let rate_limit = Family::<DecisionLabel, Counter>::default();
        let shed = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            request_seconds.clone(),
        );
        registry.register(
            "stage_duration_seconds",
            "Search latency per stage",
            stage_seconds.clone(),
        );
        registry.register(
            "search_candidates",
            "Candidate files per search",
            candidates.clone(),
        );
        registry.register("search_matches", "Matches per search", matches.clone());
        registry.register(
            "search_early_terminations",
            "Ranked searches stopped early",
            early_terminations.clone(),
        );
        registry.register(
            "search_timeouts",
            "Searches that hit their deadline",
            timeouts.clone(),
        );
        registry.register(
            "rejected_queries",
            "Queries rejected, by reason",
            rejected.clone(),
        );
        registry.register(
            "rate_limit_decisions",
            "Rate-limit decisions",
            rate_limit.clone(),
        );
        registry.register(
            "load_shed",
            "Searches shed with 503 because too many were running",
            shed.clone(),
        );
        let symbol_cache_hit_ratio = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let symbol_cache_lookups = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let precise_coverage_ratio = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let tags_query_compile_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "symbol_cache_hit_ratio",
            "Stage-B LRU cache of per-file symbols: hits over lookups since the bundle loaded",
            symbol_cache_hit_ratio.clone(),
        );
        registry.register(
            "symbol_cache_lookups",
            "Stage-B LRU cache lookups since the bundle loaded",
            symbol_cache_lookups.clone(),
        );
        registry.register(
            "precise_coverage_ratio",
            "Share of files, in languages precise indexers serve, with imported SCIP/LSIF data",
            precise_coverage_ratio.clone(),
        );
        registry.register(
            "tags_query_compile_seconds",
            "Time the bundle's build took to compile the tree-sitter tags queries",
            tags_query_compile_seconds.clone(),
        );
        let semantic_gate = Family::<DecisionLabel, Counter>::default();
        let stage_c_queries = Family::<OutcomeLabel, Counter>::default();
        let stage_c_candidates_scored = Counter::default();
        let stage_c_candidates_cut_off = Counter::default();
        let model_loaded = Gauge::default();
        let query_embedding_cache_hits = Gauge::default();
        let query_embedding_cache_misses = Gauge::default();
        registry.register(
            "semantic_gate_decisions",
            "Ranked query-language searches by the gate's decision (natural_language or code)",
            semantic_gate.clone(),
        );
        registry.register(
            "stage_c_queries",
            "Natural-language searches by what Stage-C did (ran, skipped_deadline, no_model, no_embeddings, model_mismatch, disabled, failed)",
            stage_c_queries.clone(),
        );
        registry.register(
            "stage_c_candidates_scored",
            "Candidates Stage-C scored",
            stage_c_candidates_scored.clone(),
        );
        registry.register(
            "stage_c_candidates_cut_off",
            "Candidates Stage-C's confidence cutoff dropped",
            stage_c_candidates_cut_off.clone(),
        );
        registry.register(
            "model_loaded",
            "1 when the embedding model is loaded, else 0",
            model_loaded.clone(),
        );
        registry.register(
            "query_embedding_cache_hits",
            "Query embeddings served from the LRU cache since start",
            query_embedding_cache_hits.clone(),
        );
        registry.register(
            "query_embedding_cache_misses",
            "Query embeddings computed by the model since start",
            query_embedding_cache_misses.clone(),
        );
        let canary = CanaryMetrics::register(&mut registry);
        let validation = ValidationMetrics::register(&mut registry);
        let quality_gate_status = Family::<GateLabel, Gauge>::default();
        registry.register(
            "quality_gate_status",
            "The last quality-gate run per gate: 1 pass, 0 fail, -1 skipped or not run yet",
            quality_gate_status.clone(),
        );
        let quality_gate_value =
            Family::<GateLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "quality_gate_value",
            "The last quality-gate run's measured value per gate (a share, a count or milliseconds, as the gate's threshold)",
            quality_gate_value.clone(),
        );
        // Every route's 200 and the search routes' 500 exist at zero, so the
        // error-rate ratios and burn-rate alerts evaluate from the first scrape.
        for r in super::routes::ROUTES {
            let _ = requests.get_or_create(&RouteStatus {
                route: r.path.into(),
                status: 200,
            });
        }
        for r in super::routes::ROUTES {
            let _ = request_seconds.get_or_create(&RouteLabel {
                route: r.path.into(),
            });
        }
        for stage in ["stage_a", "stage_b", "stage_c"] {
            let _ = stage_seconds.get_or_create(&StageLabel {
                stage: stage.into(),
            });
        }
        for route in ["/search", "/symbols"] {
            let _ = requests.get_or_create(&RouteStatus {
                route: route.into(),
                status: 500,
            });
        }
        // Before any run every gate reads as not run: status -1, value NaN.
        for gate in validation::gates::ALL_GATES {
            let label = GateLabel { gate: gate.into() };
            quality_gate_status.get_or_create(&label).set(-1);
            quality_gate_value.get_or_create(&label).set(f64::NAN);
        }
        // Label sets known in advance exist at zero from the first scrape, so
        // rate() and absence alerts work before anything happened.
        for code in crate::errors::ErrorCode::ALL {
            let status = code.status();
            if status.is_client_error() || status.as_u16() == 503 {
                let _ = rejected.get_or_create(&ReasonLabel {
                    reason: code.as_str().into(),
                });
            }
        }
        for decision in ["allowed", "limited"] {
            let _ = rate_limit.get_or_create(&DecisionLabel {
                decision: decision.into(),
            });
        }
        for decision in ["natural_language", "code"] {
            let _ = semantic_gate.get_or_create(&DecisionLabel {
                decision: decision.into(),
            });
        }
        for outcome in [
            "ran",
            "skipped_deadline",
            "no_model",
            "no_embeddings",
            "model_mismatch",
            "disabled",
            "failed",
        ] {
            let _ = stage_c_queries.get_or_create(&OutcomeLabel {
                outcome: outcome.into(),
            });
        }
        let mcp_tool_calls = Family::<ToolOutcome, Counter>::default();
        let mcp_tool_seconds =
            Family::<ToolOutcome, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            );
        registry.register(
            "mcp_tool_calls",
            "MCP tool calls on /mcp by tool and outcome (ok, error: a tool error)",
            mcp_tool_calls.clone(),
        );
        registry.register(
            "mcp_tool_duration_seconds",
            "MCP tool call latency on /mcp by tool and outcome",
            mcp_tool_seconds.clone(),
        );
        for tool in crate::mcp::tools::ToolName::ALL {
            for outcome in ["ok", "error"] {
                let label = ToolOutcome {
                    tool: tool.as_str().into(),
                    outcome: outcome.into(),
                };
                let _ = mcp_tool_calls.get_or_create(&label);
                let _ = mcp_tool_seconds.get_or_create(&label);
            }
        }
        Metrics {
            mcp_tool_calls,
            mcp_tool_seconds,
            canary,
            validation,
            quality_gate_status,
            quality_gate_value,
            semantic_gate,
            stage_c_queries,
            stage_c_candidates_scored,
            stage_c_candidates_cut_off,
            model_loaded,
            query_embedding_cache_hits,
            query_embedding_cache_misses,
            symbol_cache_hit_ratio,
            symbol_cache_lookups,
            precise_coverage_ratio,
            tags_query_compile_seconds,
            registry,
            requests,
            request_seconds,
            stage_seconds,
            candidates,
            matches,
            early_terminations,
            timeouts,
            rejected,
            rate_limit,
            shed,
        }
    }

    pub fn reject(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// OpenMetrics text (`application/openmetrics-text; version=1.0.0`).
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }

    /// The Prometheus text format (`text/plain; version=0.0.4`).
    pub fn encode(&self) -> String {
        openmetrics_to_prometheus(&self.encode_openmetrics())
    }
}

/// OpenMetrics text as the Prometheus text format: a counter family's HELP
/// and TYPE name its `_total` samples, `unknown` is `untyped`, and the
/// `# UNIT` and `# EOF` lines (OpenMetrics only) go.
pub fn openmetrics_to_prometheus(text: &str) -> String {
    let counters: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# HELP ")
            .map(|r| ("# HELP ", r))
            .or_else(|| line.strip_prefix("# TYPE ").map(|r| ("# TYPE ", r)));
        match meta {
            Some((kind, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let tail = if kind == "# TYPE " && tail == "unknown" {
                    "untyped"
                } else {
                    tail
                };
                out.push_str(kind);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

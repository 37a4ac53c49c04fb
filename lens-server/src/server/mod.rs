//! The HTTP service: axum on tokio. Searches run on the blocking pool (rayon
//! inside), never on the async executor.

pub mod admission;
pub mod audit;
pub mod auth;
pub mod canary;
pub mod config;
pub mod dashboard;
pub mod metrics;
pub mod quality;
pub mod ratelimit;
pub(crate) mod routes;
pub mod semantic;
pub mod trace;

use crate::errors;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use lens_core::{Engine, RequestLimits, Searcher};
use tokio::sync::Semaphore;

use self::audit::AuditLog;
use self::auth::Policy;
use self::config::Config;
use self::dashboard::Window;
use self::metrics::Metrics;
use self::ratelimit::Limiter;

pub use self::routes::ROUTES;

pub struct AppState {
    /// The bundle being served; `/admin/reload` swaps in a new one.
    pub engine: ArcSwap<Engine>,
    pub bundle_dir: PathBuf,
    pub config: Config,
    /// The request limits of `[limits]`, checked once per request by `lens_core::Request`.
    pub request_limits: RequestLimits,
    pub policy: Policy,
    pub limiter: Limiter,
    pub metrics: Metrics,
    pub window: Window,
    /// Stage-B latencies (symbol lookups, symbol queries, navigation).
    pub stage_b_window: Window,
    pub audit: AuditLog,
    pub inflight: Arc<Semaphore>,
    pub started: Instant,
    /// Stage-C: the embedding model's state (the model itself is in the engine) and its window.
    pub semantic: semantic::SemanticService,
    /// The release store, the candidate and the rollout (`lens serve`; tests may go without).
    pub releases: Option<canary::Releases>,
    /// One night at a time.
    pub nights: quality::NightGuard,
}

impl AppState {
    /// A server over one bundle, without a release store.
    pub fn new(
        bundle_dir: &Path,
        config: Config,
        policy: Policy,
        audit_path: &Path,
        semantic: semantic::SemanticService,
    ) -> anyhow::Result<Arc<AppState>> {
        AppState::with_store(bundle_dir, None, config, policy, audit_path, semantic)
    }

    /// A server over the stable release of the store at `state_dir`
    /// (registering `bundle_dir` as stable on first start) and its candidate.
    pub fn with_store(
        bundle_dir: &Path,
        state_dir: Option<&Path>,
        config: Config,
        policy: Policy,
        audit_path: &Path,
        semantic: semantic::SemanticService,
    ) -> anyhow::Result<Arc<AppState>> {
        config
            .validation
            .validate()
            .map_err(|p| anyhow::anyhow!("[validation]: {}", p.join("; ")))?;
        config.canary.validate().map_err(|p| {
            anyhow::anyhow!(
                "[canary]: {}",
                p.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })?;
        let mut engine = Engine::open(bundle_dir, semantic.model())?;
        let metrics = Metrics::new();
        let releases = match state_dir {
            None => None,
            Some(dir) => {
                let stage_c = semantic.stage_c.clone();
                let model = Box::new(move || match &stage_c {
                    Some(m) => lens_core::Model::Loaded(m.clone()),
                    None => lens_core::Model::None,
                });
                let r = canary::Releases::open(
                    dir,
                    &engine,
                    config.canary.clone(),
                    config.drills.enabled,
                    model,
                )?;
                r.refresh(&metrics.canary);
                // The stable release serves as its store entry says (its ranking, its version).
                if let Some(v) = r.stable_version() {
                    engine = r.open_release(&v).map_err(|e| {
                        anyhow::anyhow!(
                            "the release store {} serves stable {v}, which cannot be opened ({e:#}); \
                             pass --state DIR for another store, or repair this one",
                            dir.display()
                        )
                    })?;
                    if engine.describe().dir.canonicalize().ok() != bundle_dir.canonicalize().ok() {
                        tracing::warn!(
                            target: "lens::http",
                            store = %dir.display(),
                            "the store's stable release {v} is {}, not --bundle {}: serving the release",
                            engine.describe().dir.display(),
                            bundle_dir.display()
                        );
                    }
                }
                Some(r)
            }
        };
        let audit = AuditLog::open(audit_path)
            .map_err(|e| anyhow::anyhow!("audit log {}: {e}", audit_path.display()))?;
        let l = &config.limits;
        Ok(Arc::new(AppState {
            engine: ArcSwap::from_pointee(engine),
            bundle_dir: bundle_dir.to_path_buf(),
            limiter: Limiter::new(l.requests_per_second, l.burst),
            inflight: Arc::new(Semaphore::new(l.max_inflight.max(1))),
            request_limits: l.request_limits(),
            config,
            policy,
            metrics,
            window: Window::new(Duration::from_secs(300)),
            stage_b_window: Window::new(Duration::from_secs(300)),
            audit,
            started: Instant::now(),
            semantic,
            releases,
            nights: quality::NightGuard::default(),
        }))
    }

    /// Opens the served bundle again with the same model (for `/admin/reload`):
    /// the stable release's bundle, ranking and id when a release store
    /// serves it, else the `--bundle` directory.
    pub fn open_engine(&self) -> anyhow::Result<Engine> {
        match self
            .releases
            .as_ref()
            .and_then(|r| Some((r, r.stable_version()?)))
        {
            Some((r, v)) => r.open_release(&v),
            None => Ok(Engine::open(&self.bundle_dir, self.semantic.model())?),
        }
    }
}

async fn not_found() -> errors::ApiError {
    errors::ApiError::not_found("no such route")
}

/// The OpenAPI document served at `/openapi.json` (`docs/openapi.json`).
pub fn routes_openapi() -> &'static str {
    routes::OPENAPI_JSON
}

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.limits.max_body_bytes;
    routes::routes()
        .route_service("/mcp", mcp_service(&state))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::admission,
        ))
        .with_state(state)
}

/// `/mcp`: the MCP server over this server's pipeline, as streamable HTTP.
/// Clients of protocol 2026-07-28 are served statelessly; older ones get a
/// session (kept in memory) as their protocol requires.
fn mcp_service(
    state: &Arc<AppState>,
) -> rmcp::transport::StreamableHttpService<
    crate::mcp::LensMcp,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    use rmcp::transport::StreamableHttpServerConfig;
    let backend = Arc::new(crate::mcp::Backend::Served(state.clone()));
    let mcp = &state.config.mcp;
    let mut config = StreamableHttpServerConfig::default()
        .with_json_response(true)
        .with_allowed_hosts(mcp.allowed_hosts.clone())
        .with_max_request_body_bytes(state.config.limits.max_body_bytes);
    if !mcp.allowed_origins.is_empty() {
        config = config.with_allowed_origins(mcp.allowed_origins.clone());
    }
    rmcp::transport::StreamableHttpService::new(
        move || Ok(crate::mcp::LensMcp::new(backend.clone())),
        Default::default(),
        config,
    )
}

/// What the judge changed by itself (a rollback, an automatic progress) goes
/// to the audit log beside the operators' changes.
fn audit_judgement(st: &AppState, effect: &lens_core::release::Effect) {
    use lens_core::release::Effect;
    if !matches!(
        effect,
        Effect::RolledBack { .. } | Effect::Progressed { .. }
    ) {
        return;
    }
    st.audit.record(&audit::AuditEvent {
        time: audit::now_rfc3339(),
        trace_id: "",
        key_id: None,
        route: "canary judge",
        method: "INTERVAL",
        decision: "allow",
        reasons: Vec::new(),
        status: 200,
        change: serde_json::to_value(effect).ok(),
    });
}

/// Serves the stable release the state names after a promotion or rollback
/// (by the CLI or the server): the candidate's open engine when it was
/// promoted, else the release opened from the store. The old engine keeps
/// answering requests already running on it.
fn follow_stable(st: &AppState, was_candidate: Option<Arc<canary::CandidateArm>>) {
    let Some(r) = &st.releases else { return };
    let Some(v) = r.stable_version() else { return };
    if st.engine.load().describe().id.starts_with(&format!("{v}+")) {
        return;
    }
    let engine = match was_candidate.filter(|c| c.version == v) {
        Some(c) => Ok(c.engine.clone()),
        None => r.open_release(&v).map(Arc::new),
    };
    match engine {
        Ok(e) => {
            st.engine.store(e);
            tracing::info!(target: "lens::http", version = %v, "now serving stable {v}");
        }
        Err(e) => tracing::error!(target: "lens::http", version = %v, cause = %format!("{e:#}"),
            "the new stable cannot be opened; the previous engine keeps serving"),
    }
}

/// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests.
pub async fn serve(state: Arc<AppState>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let app = router(state.clone());
    let sweeper = {
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                st.limiter.sweep();
            }
        })
    };
    let canary = state.releases.as_ref().map(|r| {
        let st = state.clone();
        let every = Duration::from_secs(r.cfg.interval_seconds.max(1));
        tokio::spawn(async move {
            let mut judge = tokio::time::interval(every);
            let mut look = tokio::time::interval(Duration::from_secs(1));
            let mut schedule = tokio::time::interval(Duration::from_secs(60));
            judge.tick().await;
            loop {
                tokio::select! {
                    _ = judge.tick() => {
                        let s = st.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            if let Some(r) = &s.releases {
                                for e in r.tick(&s.metrics.canary) {
                                    audit_judgement(&s, &e);
                                }
                            }
                        }).await;
                    }
                    // A candidate cut, promoted or killed by the CLI is noticed within a second.
                    _ = look.tick() => {
                        let s = st.clone();
                        let _ = tokio::task::spawn_blocking(move || {
                            if let Some(r) = &s.releases {
                                let was_candidate = r.candidate();
                                if r.refresh(&s.metrics.canary) {
                                    follow_stable(&s, was_candidate);
                                }
                            }
                            quality::update_metrics(&s);
                        }).await;
                    }
                    _ = schedule.tick() => {
                        let s = st.clone();
                        // A night runs for up to its duration; the loop must not wait for it.
                        tokio::task::spawn_blocking(move || quality::scheduler_tick(&s, &s.nights));
                    }
                }
            }
        })
    });
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    sweeper.abort();
    if let Some(c) = canary {
        c.abort();
    }
    result
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!(target: "lens::http", "shutting down; finishing in-flight requests");
}

//! The HTTP service: axum on tokio. Searches run on the blocking pool (rayon
//! inside), never on the async executor.

pub mod admission;
pub mod audit;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod metrics;
pub mod ratelimit;
mod routes;
pub mod semantic;
pub mod trace;

use crate::errors;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use lens_core::{Engine, RequestLimits};
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
}

impl AppState {
    pub fn new(
        bundle_dir: &Path,
        config: Config,
        policy: Policy,
        audit_path: &Path,
        semantic: semantic::SemanticService,
    ) -> anyhow::Result<Arc<AppState>> {
        let engine = Engine::open(bundle_dir, semantic.model())?;
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
            metrics: Metrics::new(),
            window: Window::new(Duration::from_secs(300)),
            stage_b_window: Window::new(Duration::from_secs(300)),
            audit,
            started: Instant::now(),
            semantic,
        }))
    }

    /// Opens the bundle directory again with the same model (for `/admin/reload`).
    pub fn open_engine(&self) -> lens_core::Result<Engine> {
        Engine::open(&self.bundle_dir, self.semantic.model())
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
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admission::admission,
        ))
        .with_state(state)
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
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await;
    sweeper.abort();
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

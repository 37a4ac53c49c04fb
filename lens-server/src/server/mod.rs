//! The HTTP service: axum on tokio. Searches run on the blocking pool (rayon
//! inside), never on the async executor.

pub mod audit;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod metrics;
mod navigation;
pub mod ratelimit;
mod routes;
pub mod semantic;
pub mod trace;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lens_core::BundleReader;
use tokio::sync::Semaphore;

use self::audit::{AuditEvent, AuditLog, now_rfc3339};
use self::auth::{Policy, Scope};
use self::config::Config;
use self::dashboard::Window;
use self::error::ApiError;
use self::metrics::{DecisionLabel, Metrics, RouteLabel, RouteStatus};
use self::ratelimit::Limiter;

/// A bundle being served, with a path index for `/file`.
pub struct LoadedBundle {
    pub reader: BundleReader,
    pub by_path: HashMap<(String, String), u32>,
    pub loaded_at: String,
    /// Checksum of the manifest: identifies the bundle (cursors are tied to it).
    pub id: String,
    /// Share of files, in languages that imported SCIP/LSIF data covers, that have it (0–100).
    pub lsif_coverage_percent: f64,
}

impl LoadedBundle {
    pub fn open(dir: &Path) -> lens_core::Result<LoadedBundle> {
        let reader = BundleReader::open(dir)?;
        let id = lens_core::bundle::checksum(
            &serde_json::to_vec(reader.manifest()).expect("manifest serialises"),
        );
        let docs = reader.docs();
        let mut by_path = HashMap::with_capacity(reader.doc_count());
        for d in 0..reader.doc_count() as u32 {
            let rec = docs.get(d);
            by_path.insert(
                (
                    reader.repo_name(&rec).to_string(),
                    reader.path(&rec).into_owned(),
                ),
                d,
            );
        }
        let lsif_coverage_percent = precise_coverage(&reader);
        Ok(LoadedBundle {
            lsif_coverage_percent,
            reader,
            by_path,
            loaded_at: now_rfc3339(),
            id,
        })
    }
}

/// Files with precise data over files in the languages it covers, in percent.
fn precise_coverage(reader: &BundleReader) -> f64 {
    let Some(p) = reader.precise() else {
        return 0.0;
    };
    let docs = reader.docs();
    let covered: Vec<bool> = (0..reader.doc_count() as u32)
        .map(|d| p.covers(d))
        .collect();
    let langs: std::collections::HashSet<u16> = (0..reader.doc_count() as u32)
        .filter(|&d| covered[d as usize])
        .map(|d| docs.get(d).lang)
        .collect();
    let eligible = (0..reader.doc_count() as u32).filter(|&d| langs.contains(&docs.get(d).lang));
    let (mut n, mut c) = (0usize, 0usize);
    for d in eligible {
        n += 1;
        c += usize::from(covered[d as usize]);
    }
    if n == 0 {
        0.0
    } else {
        100.0 * c as f64 / n as f64
    }
}

pub struct AppState {
    pub bundle: ArcSwap<LoadedBundle>,
    pub bundle_dir: PathBuf,
    pub config: Config,
    pub policy: Policy,
    pub limiter: Limiter,
    pub metrics: Metrics,
    pub window: Window,
    /// Stage-B latencies (symbol lookups, symbol queries, navigation).
    pub stage_b_window: Window,
    pub audit: AuditLog,
    pub inflight: Arc<Semaphore>,
    pub started: Instant,
    /// Stage-C: the embedding model (or why there is none) and its window.
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
        let bundle = LoadedBundle::open(bundle_dir)?;
        let audit = AuditLog::open(audit_path)
            .map_err(|e| anyhow::anyhow!("audit log {}: {e}", audit_path.display()))?;
        let l = &config.limits;
        Ok(Arc::new(AppState {
            bundle: ArcSwap::from_pointee(bundle),
            bundle_dir: bundle_dir.to_path_buf(),
            limiter: Limiter::new(l.requests_per_second, l.burst),
            inflight: Arc::new(Semaphore::new(l.max_inflight.max(1))),
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
}

/// The scope a route needs; `None` for public routes.
fn scope_for(path: &str) -> Option<Scope> {
    match path {
        "/search" | "/file" | "/symbols" | "/definition" | "/references" | "/hover" => {
            Some(Scope::Search)
        }
        "/metrics" | "/monitoring/dashboard" | "/admin/reload" => Some(Scope::Ops),
        _ => None,
    }
}

/// Every route the router serves (the OpenAPI drift test checks this list).
pub const ROUTES: &[&str] = &[
    "/",
    "/search",
    "/file",
    "/symbols",
    "/definition",
    "/references",
    "/hover",
    "/health",
    "/metrics",
    "/monitoring/dashboard",
    "/admin/reload",
    "/openapi.json",
];

/// Route label with bounded cardinality.
fn route_label(path: &str) -> &'static str {
    match path {
        "/" => "/",
        "/search" => "/search",
        "/file" => "/file",
        "/symbols" => "/symbols",
        "/definition" => "/definition",
        "/references" => "/references",
        "/hover" => "/hover",
        "/health" => "/health",
        "/metrics" => "/metrics",
        "/monitoring/dashboard" => "/monitoring/dashboard",
        "/admin/reload" => "/admin/reload",
        "/openapi.json" => "/openapi.json",
        _ => "other",
    }
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Trace id, identity, policy, rate limit, headers, audit and metrics for every request.
async fn gate(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let headers = req.headers();
    let trace_id = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(trace::from_traceparent)
        .unwrap_or_else(trace::generate);
    let caller = auth::identify(presented_key(headers), &st.config.keys);
    let client = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into());
    let limit_key = caller
        .key_id()
        .map(|k| format!("key:{k}"))
        .unwrap_or_else(|| format!("ip:{client}"));
    let path = req.uri().path().to_string();
    let method = req.method().to_string();
    let route = route_label(&path);
    let needed = scope_for(&path);

    let decision = st.limiter.check(&limit_key);
    st.metrics
        .rate_limit
        .get_or_create(&DecisionLabel {
            decision: if decision.allowed {
                "allowed"
            } else {
                "limited"
            }
            .into(),
        })
        .inc();
    let denial = auth::check(&caller, needed);
    let mut reasons: Vec<&str> = Vec::new();
    let mut audit_decision = None;

    let mut resp = if !decision.allowed {
        reasons.push("rate_limited");
        audit_decision = Some("deny");
        st.metrics.reject("rate_limited");
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; retry after the Retry-After delay",
        )
        .retry_after(decision.retry_after_s)
        .into_response()
    } else if let Some((reason, status)) = denial {
        reasons.push(reason);
        if st.policy == Policy::Enforce {
            audit_decision = Some("deny");
            st.metrics.reject(reason);
            let msg = match reason {
                "missing_key" => {
                    "this route needs an API key (Authorization: Bearer KEY or X-API-Key)"
                        .to_string()
                }
                "invalid_key" => "the API key is not valid".to_string(),
                _ => format!(
                    "the API key lacks the {:?} scope",
                    needed.map(Scope::as_str).unwrap_or("")
                ),
            };
            ApiError::new(
                StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
                reason,
                msg,
            )
            .into_response()
        } else {
            audit_decision = Some("would_deny");
            next.run(req).await
        }
    } else {
        if needed == Some(Scope::Ops) {
            audit_decision = Some("allow");
        }
        next.run(req).await
    };

    let status = resp.status().as_u16();
    if let Some(d) = audit_decision {
        st.audit.record(&AuditEvent {
            time: now_rfc3339(),
            trace_id: &trace_id,
            key_id: caller.key_id(),
            route,
            method: &method,
            decision: d,
            reasons,
            status,
        });
    }
    let h = resp.headers_mut();
    h.insert(
        "x-trace-id",
        HeaderValue::from_str(&trace_id).expect("hex is a valid header"),
    );
    h.insert("x-ratelimit-limit", HeaderValue::from(decision.limit));
    h.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
    h.insert(
        "x-ratelimit-reset",
        HeaderValue::from(decision.reset_epoch_s),
    );
    st.metrics
        .requests
        .get_or_create(&RouteStatus {
            route: route.into(),
            status,
        })
        .inc();
    st.metrics
        .request_seconds
        .get_or_create(&RouteLabel {
            route: route.into(),
        })
        .observe(started.elapsed().as_secs_f64());
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
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
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
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
    eprintln!("lens: shutting down; finishing in-flight requests");
}

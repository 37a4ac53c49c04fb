//! The route table (path, scope) and the handlers, one file per concern:
//! `search.rs` the search pipeline, `files.rs` files and code navigation,
//! `ops.rs` health, metrics, the dashboard, reload and the static pages;
//! `canary.rs` the rollout (`/canary/*`) and compatibility (`/compat/*`).

mod canary;
pub(crate) mod files;
mod ops;
pub(crate) mod search;
mod validation;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::routing::{get, post};

use super::AppState;
use super::auth::Scope;
use crate::errors::{ApiError, ErrorCode};

pub use ops::OPENAPI_JSON;
pub(super) use validation::dashboard as quality_gates_dashboard;
pub(super) use validation::validation_dashboard;

/// A route and the scope it needs (`None`: public).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub path: &'static str,
    pub scope: Option<Scope>,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path)
    }
}

const fn route(path: &'static str, scope: Option<Scope>) -> Route {
    Route { path, scope }
}

/// Every route the router serves (the OpenAPI drift test checks this list).
pub const ROUTES: &[Route] = &[
    route("/", None),
    route("/search", Some(Scope::Search)),
    route("/file", Some(Scope::Search)),
    route("/symbols", Some(Scope::Search)),
    route("/definition", Some(Scope::Search)),
    route("/references", Some(Scope::Search)),
    route("/hover", Some(Scope::Search)),
    route("/health", None),
    route("/metrics", Some(Scope::Ops)),
    route("/monitoring/dashboard", Some(Scope::Ops)),
    route("/admin/reload", Some(Scope::Ops)),
    route("/canary/status", Some(Scope::Search)),
    route("/canary/progress", Some(Scope::Ops)),
    route("/canary/killswitch", Some(Scope::Ops)),
    route("/canary/drill", Some(Scope::Ops)),
    route("/compat/check", Some(Scope::Search)),
    route("/compat/bundles", Some(Scope::Search)),
    route("/validation/quality-gates", Some(Scope::Ops)),
    route("/validation/nightly", Some(Scope::Ops)),
    route("/validation/status", Some(Scope::Search)),
    route("/validation/signoff-report", Some(Scope::Search)),
    route("/openapi.json", None),
    route("/mcp", Some(Scope::Search)),
];

fn find(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.path == path)
}

/// The scope a path needs; `None` for public routes (and unknown paths, which 404).
pub fn scope_for(path: &str) -> Option<Scope> {
    find(path).and_then(|r| r.scope)
}

/// The route's label, with bounded cardinality.
pub fn route_label(path: &str) -> &'static str {
    find(path).map_or("other", |r| r.path)
}

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(ops::page))
        .route("/search", get(search::search_get).post(search::search_post))
        .route("/file", get(files::file))
        .route("/symbols", get(search::search_get))
        .route("/definition", get(files::definition))
        .route("/references", get(files::references))
        .route("/hover", get(files::hover))
        .route("/health", get(ops::health))
        .route("/metrics", get(ops::metrics))
        .route("/monitoring/dashboard", get(ops::dashboard))
        .route("/admin/reload", post(ops::reload))
        .route("/canary/status", get(canary::status))
        .route("/canary/progress", post(canary::progress))
        .route("/canary/killswitch", post(canary::killswitch))
        .route("/canary/drill", post(canary::drill))
        .route("/compat/check", get(canary::compat_check))
        .route("/compat/bundles", get(canary::compat_bundles))
        .route(
            "/validation/quality-gates",
            get(validation::last).post(validation::run),
        )
        .route("/validation/nightly", post(validation::nightly))
        .route("/validation/status", get(validation::status))
        .route(
            "/validation/signoff-report",
            get(validation::signoff_report),
        )
        .route("/openapi.json", get(ops::openapi))
}

/// Query-string problems (unknown or malformed parameters) as JSON errors.
fn params<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(p)| p)
        .map_err(|e| ApiError::new(ErrorCode::InvalidParameters, e.body_text()))
}

/// Runs blocking work (a search, a navigation) on the blocking pool, inside
/// the request's span; a panic there is an internal error with its cause logged.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| ApiError::internal(format!("worker task failed: {e}")))?
}

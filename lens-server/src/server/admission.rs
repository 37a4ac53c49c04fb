//! The layer every request passes: trace id, caller identity, scope check
//! under the policy, rate limit, the `X-Trace-Id`/`X-RateLimit-*` headers,
//! the audit log, request metrics, and the log line of every error (5xx with
//! its cause). Keys are never logged, only their ids.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use super::audit::{AuditEvent, now_rfc3339};
use super::auth::{self, Caller, Denial, Policy};
use super::metrics::{DecisionLabel, RouteLabel, RouteStatus};
use super::routes::{route_label, scope_for};
use super::trace;
use crate::errors::{ApiError, ErrorCode, ErrorDetails};

/// Who a request comes from, for handlers (the canary routes by it).
/// What an operations call changed (reason, before → after), for the audit
/// line; handlers attach it to their response.
#[derive(Debug, Clone)]
pub struct AuditChange(pub serde_json::Value);

#[derive(Debug, Clone)]
pub struct Identity {
    pub trace_id: String,
    pub key_id: Option<String>,
    /// `X-Client-Id`, else the key id, else the remote address.
    pub client: String,
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

fn remote_address(req: &Request) -> String {
    req.extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".into())
}

fn client_identity(headers: &HeaderMap, caller: &Caller, remote: &str) -> String {
    let header = headers
        .get("x-client-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 256);
    match (header, caller.key_id()) {
        (Some(h), _) => format!("client:{h}"),
        (None, Some(k)) => format!("key:{k}"),
        (None, None) => format!("ip:{remote}"),
    }
}

/// The response to a denied call.
fn denial_response(denial: Denial, needed: Option<auth::Scope>) -> Response {
    let message = match denial {
        Denial::MissingKey => {
            "this route needs an API key (Authorization: Bearer KEY or X-API-Key)".to_string()
        }
        Denial::InvalidKey => "the API key is not valid".to_string(),
        Denial::MissingScope => format!(
            "the API key lacks the {:?} scope",
            needed.map(auth::Scope::as_str).unwrap_or("")
        ),
    };
    ApiError::new(denial.code(), message).into_response()
}

pub async fn admission(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let headers = req.headers();
    let trace_id = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(trace::from_traceparent)
        .unwrap_or_else(trace::generate);
    let caller = auth::identify(presented_key(headers), &st.config.keys);
    let remote = remote_address(&req);
    let client = client_identity(headers, &caller, &remote);
    let limit_key = caller
        .key_id()
        .map(|k| format!("key:{k}"))
        .unwrap_or_else(|| format!("ip:{remote}"));
    let path = req.uri().path().to_string();
    let method = req.method().to_string();
    let route = route_label(&path);
    let needed = scope_for(&path);
    let span = tracing::info_span!(target: "lens::http", "request", %trace_id, %method, route);

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
    req.extensions_mut().insert(Identity {
        trace_id: trace_id.clone(),
        key_id: caller.key_id().map(str::to_string),
        client,
    });

    let mut resp = if !decision.allowed {
        reasons.push(ErrorCode::RateLimited.as_str());
        audit_decision = Some("deny");
        ApiError::new(
            ErrorCode::RateLimited,
            "too many requests; retry after the Retry-After delay",
        )
        .retry_after(decision.retry_after_s)
        .into_response()
    } else if let Some(d) = denial {
        reasons.push(d.code().as_str());
        if st.policy == Policy::Enforce {
            audit_decision = Some("deny");
            denial_response(d, needed)
        } else {
            audit_decision = Some("would_deny");
            next.run(req).instrument(span.clone()).await
        }
    } else {
        if needed == Some(auth::Scope::Ops) {
            audit_decision = Some("allow");
        }
        next.run(req).instrument(span.clone()).await
    };

    let status = resp.status().as_u16();
    if let Some(details) = resp.extensions().get::<ErrorDetails>() {
        log_error(&span, details, status);
        if resp.status().is_client_error() || status == 503 {
            st.metrics.reject(details.code.as_str());
        }
    }
    if let Some(d) = audit_decision {
        let change = resp.extensions().get::<AuditChange>().map(|c| c.0.clone());
        st.audit.record(&AuditEvent {
            time: now_rfc3339(),
            trace_id: &trace_id,
            key_id: caller.key_id(),
            route,
            method: &method,
            decision: d,
            reasons,
            status,
            change,
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

/// Server errors with their cause at `error`; client errors at `info`.
fn log_error(span: &tracing::Span, details: &ErrorDetails, status: u16) {
    let _in = span.enter();
    let code = details.code.as_str();
    if status >= 500 {
        tracing::error!(
            target: "lens::http",
            status,
            code,
            cause = details.cause.as_deref().unwrap_or("-"),
            "request failed"
        );
    } else {
        tracing::info!(target: "lens::http", status, code, "request refused");
    }
}

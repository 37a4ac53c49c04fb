//! Every error code lens answers with, in one table: its HTTP status, the
//! `lens` binary's exit code and what it means. Routes and the CLI use
//! [`ErrorCode`]; the OpenAPI document lists the same codes (a test checks).
//! Bodies are `{"error": {"code", "message"}}`; an internal error's cause is
//! logged with the request's trace id and never sent to the client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:literal, $exit:literal, $doc:literal;)*) => {
        /// A stable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $doc] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status of a response with this code.
            pub fn status(self) -> StatusCode {
                let s: u16 = match self { $(ErrorCode::$variant => $status,)* };
                StatusCode::from_u16(s).expect("the table holds valid statuses")
            }

            /// The `lens` binary's exit code for this error.
            pub fn exit_code(self) -> u8 {
                match self { $(ErrorCode::$variant => $exit,)* }
            }

            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $doc,)* }
            }
        }
    };
}

// code, HTTP status, exit code (0 results, 1 none, 2 error, 3 refused), meaning.
error_codes! {
    InvalidQuery = "invalid_query", 400, 2, "the query does not parse";
    InvalidRegex = "invalid_regex", 400, 2, "a regex in the query does not compile or is too large";
    InvalidGlob = "invalid_glob", 400, 2, "a -g glob does not parse";
    MissingQuery = "missing_query", 400, 2, "no query was given";
    QueryTooLong = "query_too_long", 400, 2, "the query is longer than max_query_bytes";
    InvalidLimit = "invalid_limit", 400, 2, "limit is 0 or above max_limit";
    InvalidContext = "invalid_context", 400, 2, "more context lines than allowed";
    InvalidCursor = "invalid_cursor", 400, 2, "the cursor is malformed or belongs to another query, bundle or release";
    InvalidPosition = "invalid_position", 400, 2, "a navigation position is outside its file";
    InvalidParameters = "invalid_parameters", 400, 2, "an unknown or malformed parameter";
    InvalidBody = "invalid_body", 400, 2, "the request body is not the JSON the route takes";
    BodyTooLarge = "body_too_large", 413, 2, "the request body is larger than max_body_bytes";
    NoSymbolTable = "no_symbol_table", 400, 2, "a symbol query on a bundle built with --no-symbols";
    NotFound = "not_found", 404, 2, "no such route, file or release";
    MissingKey = "missing_key", 401, 2, "the route needs an API key";
    InvalidKey = "invalid_key", 401, 2, "the API key matches no configured key";
    MissingScope = "missing_scope", 403, 2, "the API key lacks the scope the route needs";
    RateLimited = "rate_limited", 429, 2, "too many requests from this key or address; retry after Retry-After";
    Overloaded = "overloaded", 503, 2, "too many searches in flight; retry after Retry-After";
    CanaryRefused = "canary_refused", 409, 3, "the rollout refused the change; `reasons` says every reason";
    DrillsDisabled = "drills_disabled", 409, 3, "fault injection needs [drills] enabled = true";
    NightRefused = "night_refused", 409, 3, "the night cannot run as asked: no candidate, a night already running, or a forced night out of order";
    NoReleaseStore = "no_release_store", 409, 2, "the server runs without a release store";
    StateUnsafe = "state_unsafe", 503, 2, "the rollout state cannot be trusted; the candidate is held at 0%";
    ReloadFailed = "reload_failed", 409, 2, "the rebuilt bundle failed verification; the current one keeps serving";
    MissingBundle = "missing_bundle", 500, 2, "no bundle at the path";
    CorruptBundle = "corrupt_bundle", 500, 2, "a bundle file fails its checksum or is malformed";
    UnsupportedFormat = "unsupported_format", 500, 2, "the bundle's format is outside what this build reads";
    ModelUnavailable = "model_unavailable", 500, 2, "the embedding model failed";
    Internal = "internal", 500, 2, "an internal error; its cause is in the server log under the trace id";
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The code of an engine error.
pub fn code_of(e: &lens_core::Error) -> ErrorCode {
    use lens_core::Error as E;
    use lens_core::error::RequestProblem as P;
    match e {
        E::InvalidQuery { .. } => ErrorCode::InvalidQuery,
        E::InvalidRegex { .. } => ErrorCode::InvalidRegex,
        E::InvalidGlob { .. } => ErrorCode::InvalidGlob,
        E::InvalidRequest { problem, .. } => match problem {
            P::MissingQuery => ErrorCode::MissingQuery,
            P::QueryTooLong => ErrorCode::QueryTooLong,
            P::InvalidLimit => ErrorCode::InvalidLimit,
            P::InvalidContext => ErrorCode::InvalidContext,
            P::InvalidCursor => ErrorCode::InvalidCursor,
            P::InvalidPosition => ErrorCode::InvalidPosition,
            P::InvalidParameters => ErrorCode::InvalidParameters,
        },
        E::NoSymbolTable => ErrorCode::NoSymbolTable,
        E::NotFound(_) => ErrorCode::NotFound,
        E::MissingBundle { .. } => ErrorCode::MissingBundle,
        E::CorruptBundle { .. } => ErrorCode::CorruptBundle,
        E::UnsupportedFormat { .. } => ErrorCode::UnsupportedFormat,
        E::Model(_) => ErrorCode::ModelUnavailable,
        E::Io { .. } | E::TextIndex(_) => ErrorCode::Internal,
    }
}

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_s: Option<u64>,
    /// What went wrong inside, for the log (5xx only; never sent).
    pub cause: Option<String>,
    /// Refusal reasons and the answering release, when there are any (boxed:
    /// errors travel in every `Result` of the routes).
    pub extra: Option<Box<ErrorExtra>>,
}

/// The rarer parts of an error response.
#[derive(Debug, Clone, Default)]
pub struct ErrorExtra {
    /// Every reason of a refusal (`canary_refused`), sent as `error.reasons`.
    pub reasons: Vec<serde_json::Value>,
    /// The release that answered (`X-Lens-Arm`, `X-Lens-Release`).
    pub arm: Option<(&'static str, String)>,
}

/// Carried on an error response so that the request layer can log it with
/// the trace id and count it by code.
#[derive(Debug, Clone)]
pub struct ErrorDetails {
    pub code: ErrorCode,
    pub cause: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after_s: None,
            cause: None,
            extra: None,
        }
    }

    /// A 500 whose cause is logged, not sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError {
            code: ErrorCode::Internal,
            message:
                "internal error; the server log has its cause under this response's X-Trace-Id"
                    .into(),
            retry_after_s: None,
            cause: Some(cause.to_string()),
            extra: None,
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_s = Some(secs.max(1));
        self
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn with_reasons(mut self, reasons: Vec<serde_json::Value>) -> Self {
        self.extra.get_or_insert_default().reasons = reasons;
        self
    }

    /// Tags the error with the release whose answer it is.
    pub fn on_arm(mut self, arm: &str, version: &str) -> Self {
        let arm = if arm == "candidate" {
            "candidate"
        } else {
            "stable"
        };
        self.extra.get_or_insert_default().arm = Some((arm, version.to_string()));
        self
    }
}

/// Engine errors: user mistakes keep their message; anything else is internal,
/// its details logged, not sent.
impl From<lens_core::Error> for ApiError {
    fn from(e: lens_core::Error) -> Self {
        let code = code_of(&e);
        if e.is_user_error() {
            ApiError::new(code, e.to_string())
        } else {
            ApiError {
                code: ErrorCode::Internal,
                ..ApiError::internal(format!("{}: {e}", code.as_str()))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = serde_json::json!({"code": self.code.as_str(), "message": self.message});
        let extra = self.extra.map(|b| *b).unwrap_or_default();
        if !extra.reasons.is_empty() {
            error["reasons"] = serde_json::Value::Array(extra.reasons);
        }
        let mut resp = (
            self.code.status(),
            Json(serde_json::json!({"error": error})),
        )
            .into_response();
        if let Some((arm, version)) = &extra.arm {
            let h = resp.headers_mut();
            h.insert("x-lens-arm", HeaderValue::from_static(arm));
            if let Ok(v) = HeaderValue::from_str(version) {
                h.insert("x-lens-release", v);
            }
        }
        if let Some(s) = self.retry_after_s {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp.extensions_mut().insert(ErrorDetails {
            code: self.code,
            cause: self.cause,
        });
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_client_errors_are_4xx() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{} twice", c.as_str());
            assert!(c.status().is_client_error() || c.status().is_server_error());
            assert!(c.exit_code() >= 2);
        }
        let e = lens_core::Error::NotFound("x".into());
        assert_eq!(ApiError::from(e).status(), StatusCode::NOT_FOUND);
        let io = lens_core::Error::Io {
            path: "/x".into(),
            source: std::io::Error::other("disk"),
        };
        let api = ApiError::from(io);
        assert_eq!(api.code, ErrorCode::Internal);
        assert!(api.cause.as_deref().unwrap().contains("disk"));
        assert!(!api.message.contains("disk"));
    }
}

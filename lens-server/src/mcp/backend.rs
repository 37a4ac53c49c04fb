//! Where the tools' work goes: the server's own pipeline for `/mcp` (release
//! router, limits, shedding, metrics, the nights' query log), or one bundle
//! in this process for `lens mcp` over stdio.

use std::sync::Arc;

use lens_core::response::ReleaseTag;
use lens_core::{Deadline, Engine, RequestLimits, Searcher};

use crate::errors::ApiError;
use crate::server::AppState;
use crate::server::admission::Identity;
use crate::server::routes::blocking;
use crate::server::routes::files::navigate_timed;
use crate::server::routes::search::{Route, SearchParams, run_request, validate};

pub enum Backend {
    /// `lens mcp`: a bundle opened by this process.
    Local {
        engine: Arc<Engine>,
        limits: RequestLimits,
    },
    /// `/mcp` on `lens serve`: every call goes the way `/search` goes.
    Served(Arc<AppState>),
}

impl Backend {
    pub fn local(engine: Engine, limits: RequestLimits) -> Backend {
        Backend::Local {
            engine: Arc::new(engine),
            limits,
        }
    }

    /// A search or symbol search: validated against the same limits and run
    /// on the same release as the HTTP routes would.
    pub async fn search(
        &self,
        who: Option<&Identity>,
        params: SearchParams,
        route: Route,
    ) -> Result<lens_core::Response, ApiError> {
        match self {
            Backend::Served(st) => {
                let who = who.cloned().unwrap_or_else(|| Identity {
                    trace_id: crate::server::trace::generate(),
                    key_id: None,
                    client: "mcp".into(),
                });
                run_request(st, &who, params, route).await
            }
            Backend::Local { engine, limits } => {
                let request = validate(limits, params, route)?;
                let engine = engine.clone();
                let version = engine.describe().manifest.bundle_version.clone();
                let mut response = blocking(move || {
                    let deadline = Deadline::after(request.timeout);
                    engine.search(&request, &deadline).map_err(ApiError::from)
                })
                .await?;
                response.release = Some(ReleaseTag {
                    version,
                    arm: "stable",
                });
                Ok(response)
            }
        }
    }

    /// Navigation and files on the stable bundle (as `/definition`, `/file`, …).
    pub async fn with_engine<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Engine) -> lens_core::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        match self {
            Backend::Served(st) => Ok(navigate_timed(st, work).await?.0),
            Backend::Local { engine, .. } => {
                let engine = engine.clone();
                blocking(move || work(&engine).map_err(ApiError::from)).await
            }
        }
    }

    /// The bundle being served now.
    pub fn engine(&self) -> Arc<Engine> {
        match self {
            Backend::Served(st) => st.engine.load_full(),
            Backend::Local { engine, .. } => engine.clone(),
        }
    }

    /// The server's metrics, when there is a server.
    pub fn state(&self) -> Option<&Arc<AppState>> {
        match self {
            Backend::Served(st) => Some(st),
            Backend::Local { .. } => None,
        }
    }
}

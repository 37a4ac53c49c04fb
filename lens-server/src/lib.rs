//! # lens-server
//!
//! The HTTP service over a lens bundle (axum on hyper/tokio): search, files,
//! health, Prometheus metrics, the monitoring dashboard, API keys with scopes,
//! per-key rate limits, trace ids and an audit log; and the MCP server
//! (`mcp`) that agents reach over stdio or at `/mcp`. The `lens` binary
//! (`src/main.rs`) is thin glue over this and the other workspace libraries.

pub mod errors;
pub mod mcp;
pub mod server;

//! Release logic (placeholder doc; rewritten below).
pub mod canary_config;
pub mod judge;
pub mod nights;
pub mod rollout;
pub mod routing;
pub mod state_file;
pub mod version;

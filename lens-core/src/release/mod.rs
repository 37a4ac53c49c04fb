//! Release logic (placeholder doc; rewritten below).
pub mod routing;
pub mod version;

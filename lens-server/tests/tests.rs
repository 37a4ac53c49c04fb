//! Integration tests of the `lens` binary (the nights have their own
//! binary, tests/nights.rs).

mod common;
// A small tree, its bundle, a release store, a server, HTTP by hand.
mod release_harness;

// Exactness against ripgrep on real source trees.
mod rg_differential;
// Clear errors and non-zero exits for bad input and damaged bundles.
mod errors;
// A build killed midway leaves no bundle, or the previous one.
mod crash_safety;
// Walk options, skips recorded in the manifest, batch mode.
mod indexing;
// The HTTP service: routes, errors, auth matrix, rate limits, trace ids, paging.
mod http;
// The web page in headless Chromium.
mod page;
// dashboards/ against the exported metrics, and promtool.
mod dashboards;
// Releases against real processes: kill -9, CLI and server at once, routing, alerts.
mod canary;
// Exhaustive paging through cursors at the Searcher seam.
mod paging;
// Stage-B: symbols, precise navigation (SCIP, LSIF), ctags agreement.
mod stage_b;
// Stage-C: model loading (tiny and real), bundle embeddings, gate, cutoff, deadline, missing model.
mod stage_c;

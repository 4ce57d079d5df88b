//! The `tessera` HTTP server: configuration, web API and CLI.
//!
//! **Not implemented yet.** This crate exists so the workspace layout matches
//! the architecture; it exports nothing and builds no binary.

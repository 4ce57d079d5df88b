//! Tessera's store contract and the `Sessions` service.
//!
//! **Not implemented yet.** This crate exists so the workspace layout matches
//! the architecture; it exports nothing.

//! The Redis backend for Tessera's session store.
//!
//! **Not implemented yet.** This crate exists so the workspace layout matches
//! the architecture; it exports nothing and no configuration selects it.

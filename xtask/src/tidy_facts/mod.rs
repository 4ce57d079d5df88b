//! Tidy checks of documented facts, run as ordinary tests: the docs state
//! error codes, Redis commands, table counts, paths and defaults that the
//! code decides, and each test reads both sides and names every
//! disagreement it finds.
//!
//! Where a fact cannot be read from the code mechanically, the test says so
//! and keeps a short list of what was checked by hand, which the test still
//! holds against the docs.

use anyhow::{Result, bail};

mod architecture;
mod compatibility;
mod configuration;
mod error_codes;
mod markdown;
mod redis_acl;

fn fail_on(problems: &[String], what: &str) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{what}:\n  {}", problems.join("\n  "))
    }
}

//! The API check: schemathesis generates requests from the OpenAPI document
//! that the server serves and checks every answer against it, with all of
//! its checks and all of its phases (examples, coverage, fuzzing, and the
//! stateful phase that follows the document's links), against `tessera
//! serve` built from this tree, once on the local store and
//! once on Redis. Any finding fails the check.
//!
//! `cargo xtask test` runs it for 40 s per backend ([`Budget::Quick`]);
//! `cargo xtask api-check` for 300 s per backend ([`Budget::Full`]). `hooks.py` says which
//! rules of the document the generated requests are made to follow, and
//! why; `schemathesis.toml` holds the one setting that differs from
//! schemathesis' defaults.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::bench::http::{Server, free_port};
use crate::bench::server::{new_token, random_hex, set_mode, write_config};
use crate::cmd;
use crate::services::schemathesis;

const HOOKS: &str = include_str!("hooks.py");
const CONFIG: &str = include_str!("schemathesis.toml");
const OPENAPI_PATH: &str = "/session-store/rest/v2/openapi.json";
/// Fixed, so that a run can be repeated; `--seed` of `cargo xtask
/// api-check` picks another.
const DEFAULT_SEED: u64 = 1;

/// How much schemathesis may generate. With `--max-time`, the fuzzing and
/// stateful phases start over with new cases until the time is spent, so
/// the time is both the bound and the run's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Part of `cargo xtask test`: 50 cases per operation and phase in
    /// each round, 40 s per backend.
    Quick,
    /// `cargo xtask api-check`: 200 cases per operation and phase in each
    /// round (twice schemathesis' default), 300 s per backend.
    Full,
}

impl Budget {
    fn args(self) -> Vec<String> {
        let (examples, seconds) = match self {
            Self::Quick => (50, 40),
            Self::Full => (200, 300),
        };
        vec![
            "--max-examples".to_owned(),
            examples.to_string(),
            "--max-time".to_owned(),
            seconds.to_string(),
        ]
    }
}

/// One backend's outcome.
struct Outcome {
    backend: &'static str,
    generated: u64,
    failed: u64,
    phases: String,
    seconds: f64,
    passed: bool,
}

/// Builds `tessera` (debug), then runs schemathesis against it on each backend.
/// `env` is the running services' environment (Redis is taken from it).
pub(crate) fn run(env: &[(String, String)], budget: Budget, seed: Option<u64>) -> Result<()> {
    let xtask_dir = crate::xtask_dir();
    let schemathesis = schemathesis::ensure_installed(&xtask_dir)?;
    // The debug build: the tests have just built it.
    cmd::run(cmd::cargo().args(["build", "-p", "tessera-server", "--bin", "tessera"]))?;
    let tessera = crate::target_dir().join("debug/tessera");
    let redis_url = env
        .iter()
        .find(|(key, _)| key == "TESSERA_TEST_REDIS_URL")
        .map(|(_, value)| value.clone())
        .context("the API check needs the test services' Redis (TESSERA_TEST_REDIS_URL)")?;

    let dir = xtask_dir.join("api-check");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    set_mode(&dir, 0o700)?;
    fs::write(dir.join("tessera_api_check_hooks.py"), HOOKS)?;
    fs::write(dir.join("schemathesis.toml"), CONFIG)?;

    let (token, hash) = new_token(&tessera)?;
    let seed = seed.unwrap_or(DEFAULT_SEED);

    let mut outcomes = Vec::new();
    for backend in ["local", "redis"] {
        let backend_dir = dir.join(backend);
        fs::create_dir_all(&backend_dir)?;
        let store = if backend == "local" {
            format!(
                "  type: local\n  path: {}\n",
                backend_dir.join("sessions").display()
            )
        } else {
            format!(
                "  type: redis\n  url: {redis_url}\n  key_prefix: \"api-check-{}:\"\n",
                random_hex(4)?
            )
        };
        let port = free_port()?;
        let config_file = write_config(&backend_dir, &store, &hash, port)?;
        let mut serve = Command::new(&tessera);
        serve.arg("--config").arg(&config_file).arg("serve");
        let server = Server::start(&mut serve, port, &backend_dir.join("server.log"))?;
        println!("xtask: api check: schemathesis against tessera on the {backend} store");
        let outcome = check(&schemathesis, &dir, backend, port, &token, budget, seed);
        drop(server);
        outcomes.push(outcome?);
    }

    println!("xtask: api check (seed {seed}):");
    for o in &outcomes {
        println!(
            "xtask:   {:<5} store: {} cases generated, {} failed; phases {}; {:.0} s",
            o.backend, o.generated, o.failed, o.phases, o.seconds
        );
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.backend)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        bail!(
            "schemathesis found disagreements between openapi.json and the server on the {} store(s); \
             the report is above, the logs in {}",
            failed.join(" and "),
            dir.display()
        )
    }
}

fn check(
    schemathesis: &Path,
    dir: &Path,
    backend: &'static str,
    port: u16,
    token: &str,
    budget: Budget,
    seed: u64,
) -> Result<Outcome> {
    let base = format!("http://127.0.0.1:{port}");
    let report = dir.join(backend).join("report.json");
    let mut st = Command::new(schemathesis);
    st.arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .args(["run", &format!("{base}{OPENAPI_PATH}")])
        .args(["--checks", "all", "--continue-on-failure"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--seed", &seed.to_string()])
        .args(["--report", "json", "--report-json-path"])
        .arg(&report)
        .args(budget.args())
        .current_dir(dir.join(backend))
        .env("SCHEMATHESIS_HOOKS", "tessera_api_check_hooks")
        .env("PYTHONPATH", dir)
        .env("TESSERA_API_CHECK_BASE", &base)
        .env("TESSERA_API_CHECK_TOKEN", token);
    let started = Instant::now();
    // schemathesis prints its own report; its exit status says whether it
    // found anything.
    let passed = st
        .status()
        .with_context(|| format!("cannot run {}", schemathesis.display()))?
        .success();
    let seconds = started.elapsed().as_secs_f64();
    let text = fs::read_to_string(&report)
        .with_context(|| format!("schemathesis wrote no report at {}", report.display()))?;
    Ok(Outcome {
        backend,
        generated: number_after(&text, "\"test_cases\"", "\"generated\"").unwrap_or(0),
        failed: number_after(&text, "\"test_cases\"", "\"with_failures\"").unwrap_or(0),
        phases: phases(&text),
        seconds,
        passed,
    })
}

/// The number after `key` in the first object after `section` of a JSON
/// text (xtask has no JSON library, and the report's shape needs none).
fn number_after(text: &str, section: &str, key: &str) -> Option<u64> {
    let rest = &text[text.find(section)?..];
    let rest = &rest[rest.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start_matches([':', ' '])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `examples skip, coverage success, ...` from the report's `phases`.
fn phases(text: &str) -> String {
    ["examples", "coverage", "fuzzing", "stateful"]
        .iter()
        .map(|phase| {
            let status = text
                .find("\"phases\"")
                .map(|at| &text[at..])
                .and_then(|rest| rest.find(&format!("\"{phase}\"")).map(|at| &rest[at..]))
                .and_then(|rest| {
                    let rest = &rest[rest.find("\"status\"")? + "\"status\"".len()..];
                    let rest = rest.trim_start_matches([':', ' ']).strip_prefix('"')?;
                    Some(rest[..rest.find('"')?].to_owned())
                })
                .unwrap_or_else(|| "?".to_owned());
            format!("{phase} {status}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{
  "phases": {
    "examples": {
      "status": "skip",
      "skip_reason": null
    },
    "coverage": {"status": "success"},
    "fuzzing": {"status": "failure"},
    "stateful": {"status": "success"}
  },
  "test_cases": {
    "generated": 1680,
    "with_failures": 2,
    "unique_failures": 2
  }
}"#;

    #[test]
    fn the_report_gives_counts_and_phases() {
        assert_eq!(
            number_after(REPORT, "\"test_cases\"", "\"generated\""),
            Some(1680)
        );
        assert_eq!(
            number_after(REPORT, "\"test_cases\"", "\"with_failures\""),
            Some(2)
        );
        assert_eq!(number_after(REPORT, "\"test_cases\"", "\"missing\""), None);
        assert_eq!(
            phases(REPORT),
            "examples skip, coverage success, fuzzing failure, stateful success"
        );
    }

    #[test]
    fn both_budgets_bound_examples_and_time() {
        for budget in [Budget::Quick, Budget::Full] {
            let args = budget.args();
            assert!(args.contains(&"--max-examples".to_owned()), "{budget:?}");
            assert!(args.contains(&"--max-time".to_owned()), "{budget:?}");
        }
        assert_ne!(Budget::Quick.args(), Budget::Full.args());
    }
}

//! `cargo xtask chaos`: the reliability tests at full strength.
//!
//! The tests are the server's `chaos_*` integration tests: Redis killed and
//! restarted under load, the DynamoDB emulator paused, killed and restarted
//! under load, and the quota under attack (four servers, 200 concurrent
//! logins of one subject, for every backend and both policies). `cargo
//! xtask test` runs them too, but the quota test there does only a few
//! rounds per backend and policy: the DynamoDB emulator applies one request
//! at a time, which makes 50 rounds take many minutes. This task starts the
//! same services as `test`, runs the outage tests one at a time (so their
//! bounds on hanging are not measured on a machine busy with another test
//! of ours), then the quota test's full 50 rounds (or `--rounds N`) two
//! tests at a time, and prints each test's numbers (the `CHAOS` lines).

use anyhow::{Context, Result, bail};

use crate::cmd;
use crate::services::Services;

/// Rounds of the quota test per backend and policy, as the reliability
/// requirements ask.
const QUOTA_ROUNDS: u32 = 50;
/// The variable the quota test reads its number of rounds from.
const ROUNDS_VAR: &str = "TESSERA_CHAOS_QUOTA_ROUNDS";
/// The outage tests: they bound how long a request may hang, so they run
/// one at a time, on a machine busy with nothing else of ours.
const OUTAGE_TESTS: [&str; 2] = ["chaos_redis_outage", "chaos_dynamodb_outage"];
/// The quota tests assert nothing about time; two run at once (each
/// DynamoDB one has an emulator of its own).
const QUOTA_TESTS: [&str; 1] = ["chaos_quota"];

/// What `cargo xtask chaos` was asked for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Options {
    /// `--rounds N`: rounds of the quota test.
    rounds: u32,
    /// Test name filters, for the test binaries.
    filters: Vec<String>,
}

impl Options {
    /// Parses the arguments after `chaos`.
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            rounds: QUOTA_ROUNDS,
            filters: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if arg == "--rounds" {
                let n = args.next().context("`--rounds` needs a number")?;
                options.rounds = n
                    .parse()
                    .with_context(|| format!("`--rounds {n}`: not a number"))?;
            } else {
                options.filters.push(arg.clone());
            }
        }
        Ok(options)
    }
}

/// Starts the services, runs the reliability tests, stops the services.
pub(crate) fn run(options: &Options) -> Result<()> {
    Services::around(|env| run_tests(options, env)).context("reliability tests failed")
}

fn run_tests(options: &Options, env: &[(String, String)]) -> Result<()> {
    // Both run even when the first fails, so one report covers everything.
    let outage = cargo_test(&OUTAGE_TESTS, 1, options, env);
    let quota = cargo_test(&QUOTA_TESTS, 2, options, env);
    match (outage, quota) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
        (Err(outage), Err(quota)) => bail!("{outage:#}\n{quota:#}"),
    }
}

fn cargo_test(
    tests: &[&str],
    threads: u32,
    options: &Options,
    env: &[(String, String)],
) -> Result<()> {
    let mut cargo = cmd::cargo();
    cargo.args(["test", "-p", "tessera-server"]);
    for test in tests {
        cargo.args(["--test", test]);
    }
    cargo
        .args(["--", "--nocapture", "--test-threads"])
        .arg(threads.to_string())
        .args(&options.filters)
        .env(ROUNDS_VAR, options.rounds.to_string());
    cmd::run_with_env(&mut cargo, env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        let args: Vec<String> = args.iter().map(ToString::to_string).collect();
        Options::parse(&args)
    }

    #[test]
    fn fifty_rounds_unless_told_otherwise() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.rounds, 50);
        assert!(options.filters.is_empty());
        let options = parse(&["--rounds", "3", "redis"]).unwrap();
        assert_eq!(options.rounds, 3);
        assert_eq!(options.filters, ["redis"]);
    }

    #[test]
    fn rounds_need_a_number() {
        assert!(parse(&["--rounds"]).is_err());
        assert!(parse(&["--rounds", "many"]).is_err());
    }
}

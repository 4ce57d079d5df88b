//! `cargo xtask test`: the one test command. Starts the services (unless
//! `--no-services`), runs the doctests and then every other test of the
//! workspace against them, then the API check (schemathesis against the
//! server on the local store and on Redis, see [`crate::api_check`]), and
//! stops the services whatever the outcome.

use anyhow::{Context, Result, bail};

use crate::api_check::{self, Budget};
use crate::cmd;
use crate::services::Services;

/// What `cargo xtask test` was asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    /// `--no-services`: run the tests without starting anything.
    no_services: bool,
    /// `-p NAME`: test only these packages instead of the whole workspace.
    packages: Vec<String>,
    /// Everything else, for the test runner (not for the doctests).
    runner_args: Vec<String>,
}

impl Options {
    /// Parses the arguments after `test`.
    pub(crate) fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            if arg == "--no-services" {
                options.no_services = true;
            } else if arg == "-p" || arg == "--package" {
                let name = args
                    .next()
                    .with_context(|| format!("`{arg}` needs a package name"))?;
                options.packages.push(name.clone());
            } else if let Some(name) = arg.strip_prefix("--package=") {
                options.packages.push(name.to_owned());
            } else if arg == "--" {
                // Test binary arguments: passed on verbatim, never parsed.
                options.runner_args.push(arg.clone());
                options.runner_args.extend(args.by_ref().cloned());
            } else {
                options.runner_args.push(arg.clone());
            }
        }
        Ok(options)
    }
}

/// Runs the tests as `options` says.
pub(crate) fn run(options: &Options) -> Result<()> {
    if options.no_services {
        return run_tests(options, &[]);
    }
    Services::around(|env| {
        let tests = run_tests(options, env);
        if !options.runs_api_check() {
            return tests;
        }
        // Run even when a test failed: its findings are worth having too.
        let check = api_check::run(env, Budget::Quick, None);
        match (tests, check) {
            (Ok(()), check) => check.context("the API check failed"),
            (Err(tests), Ok(())) => Err(tests),
            (Err(tests), Err(check)) => bail!("{tests:#}\n  and the API check failed: {check:#}"),
        }
    })
}

impl Options {
    /// The API check runs with the whole suite, or with the server's tests,
    /// but not for a filtered run (runner arguments pick single tests).
    fn runs_api_check(&self) -> bool {
        (self.packages.is_empty() || self.packages.iter().any(|p| p == "tessera-server"))
            && self.runner_args.is_empty()
    }
}

fn run_tests(options: &Options, env: &[(String, String)]) -> Result<()> {
    // Every feature, so that no test is left out by its `required-features`
    // (the conformance suite's `testkit`, the remote backend of tessera-axum).
    let select = |packages: &[&str]| -> Vec<String> {
        let mut args = if options.packages.is_empty() {
            vec!["--workspace".to_owned()]
        } else {
            packages
                .iter()
                .flat_map(|name| ["-p".to_owned(), (*name).to_owned()])
                .collect()
        };
        args.push("--all-features".to_owned());
        args
    };
    let packages: Vec<&str> = options.packages.iter().map(String::as_str).collect();
    // `cargo test --doc` refuses a package without a library, like xtask.
    let libraries: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|&name| name != "xtask")
        .collect();

    // nextest does not run doctests. They go first so that the main runner's
    // summary is the last thing printed; both run even when one fails.
    let doc = if !packages.is_empty() && libraries.is_empty() {
        Ok(())
    } else {
        let mut doc = cmd::cargo();
        doc.arg("test").args(select(&libraries)).arg("--doc");
        cmd::run_with_env(&mut doc, env)
    };

    let mut main = cmd::cargo();
    if cmd::succeeds_quietly(cmd::cargo().args(["nextest", "--version"])) {
        main.args(["nextest", "run"]);
    } else {
        println!("xtask: cargo-nextest is not installed; using cargo test");
        main.arg("test");
    }
    main.args(select(&packages))
        .arg("--all-targets")
        .args(&options.runner_args);
    let main = cmd::run_with_env(&mut main, env);

    match (doc, main) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(doc), Ok(())) => Err(doc.context("doctests failed")),
        (Ok(()), Err(main)) => Err(main.context("tests failed")),
        (Err(doc), Err(main)) => bail!("doctests and tests failed:\n  {doc:#}\n  {main:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Options {
        let args: Vec<String> = args.iter().map(ToString::to_string).collect();
        Options::parse(&args).expect("valid arguments")
    }

    #[test]
    fn no_arguments_mean_everything_with_services() {
        assert_eq!(parse(&[]), Options::default());
    }

    #[test]
    fn packages_and_flags_are_split_from_runner_arguments() {
        let options = parse(&[
            "--no-services",
            "-p",
            "tessera-core",
            "--no-fail-fast",
            "--package=xtask",
            "expiry",
        ]);
        assert!(options.no_services);
        assert_eq!(options.packages, ["tessera-core", "xtask"]);
        assert_eq!(options.runner_args, ["--no-fail-fast", "expiry"]);
    }

    #[test]
    fn everything_after_a_double_dash_goes_to_the_runner_verbatim() {
        let options = parse(&["--", "--no-services", "-p", "x"]);
        assert!(!options.no_services);
        assert!(options.packages.is_empty());
        assert_eq!(options.runner_args, ["--", "--no-services", "-p", "x"]);
    }

    #[test]
    fn the_api_check_runs_with_the_whole_suite_or_the_server_unfiltered() {
        assert!(parse(&[]).runs_api_check());
        assert!(parse(&["-p", "tessera-server"]).runs_api_check());
        assert!(!parse(&["-p", "tessera-core"]).runs_api_check());
        assert!(!parse(&["-p", "tessera-server", "--", "conformance"]).runs_api_check());
        assert!(!parse(&["--no-fail-fast"]).runs_api_check());
    }

    #[test]
    fn a_package_flag_needs_a_name() {
        assert!(Options::parse(&["-p".to_owned()]).is_err());
    }
}

//! The services the tests run against: a standalone Redis, a three-node
//! Redis Cluster and the `moto` DynamoDB emulator, on free loopback ports,
//! with logs under `target/xtask/run/<timestamp>/`, stopped by PID when the
//! [`Services`] guard drops.

mod install;
mod moto;
mod ports;
mod promtool;
mod querycommander;
mod redis;
mod redis_cluster;
pub(crate) mod schemathesis;
mod supervisor;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use self::ports::Ports;
use self::supervisor::Supervisor;
use crate::cmd;

/// Run directories kept for reading logs later; older ones are removed.
const KEPT_RUNS: usize = 10;

/// Running services and the environment that points tests at them.
pub(crate) struct Services {
    env: Vec<(String, String)>,
    run_dir: PathBuf,
    supervisor: Supervisor,
}

impl Services {
    /// Installs what is missing, starts every service and waits until each
    /// answers. On failure, whatever was started is stopped again.
    pub(crate) fn start() -> Result<Self> {
        let xtask_dir = crate::xtask_dir();
        let redis_bins = redis::ensure_installed(&xtask_dir)?;
        let moto_server = moto::ensure_installed(&xtask_dir)?;
        let querycommander_python = querycommander::ensure_installed(&xtask_dir)?;
        let promtool = promtool::ensure_installed()?;

        let started = Instant::now();
        let run_dir = new_run_dir(&xtask_dir.join("run"))?;
        let mut supervisor = Supervisor::new(&run_dir)?;
        let mut ports = Ports::default();
        let (redis_port, moto_port) = (ports.any()?, ports.any()?);
        // Spawn everything before waiting for anything: start-up then costs
        // the slowest service (moto's Python imports), not the sum of all.
        let mut start = |supervisor: &mut Supervisor| -> Result<String> {
            let redis = redis::spawn_standalone(supervisor, &redis_bins, redis_port, &run_dir)?;
            let cluster = redis_cluster::spawn(supervisor, &redis_bins, &mut ports, &run_dir)?;
            let moto = moto::spawn(supervisor, &moto_server, moto_port)?;
            redis::wait_ready(supervisor, redis, redis_port)?;
            cluster.form(supervisor, &redis_bins)?;
            moto::wait_ready(supervisor, moto, moto_port)?;
            Ok(cluster.urls())
        };
        let cluster_urls = start(&mut supervisor).with_context(|| {
            format!(
                "the test services did not start (logs in {})",
                run_dir.display()
            )
        })?;

        let env = [
            (
                "TESSERA_TEST_REDIS_URL",
                format!("redis://127.0.0.1:{redis_port}"),
            ),
            ("TESSERA_TEST_REDIS_CLUSTER_URLS", cluster_urls),
            (
                "TESSERA_TEST_DYNAMODB_ENDPOINT",
                format!("http://127.0.0.1:{moto_port}"),
            ),
            (
                "TESSERA_TEST_REDIS_SERVER_BIN",
                path_string(&redis_bins.server),
            ),
            ("TESSERA_TEST_REDIS_CLI_BIN", path_string(&redis_bins.cli)),
            ("TESSERA_TEST_MOTO_SERVER_BIN", path_string(&moto_server)),
            ("TESSERA_TEST_PROMTOOL_BIN", path_string(&promtool)),
            (
                "TESSERA_TEST_QUERYCOMMANDER_PYTHON",
                path_string(&querycommander_python),
            ),
            // The AWS SDK must never reach for real credentials or the
            // instance metadata service while talking to the emulator.
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        println!(
            "xtask: services up in {:.1}s (logs in {})",
            started.elapsed().as_secs_f64(),
            run_dir.display()
        );
        Ok(Self {
            env,
            run_dir,
            supervisor,
        })
    }

    /// The variables a test process needs to find the services.
    pub(crate) fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Where the services' logs are.
    pub(crate) fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Fails, naming the service and quoting its log, if one has exited.
    pub(crate) fn ensure_running(&mut self) -> Result<()> {
        self.supervisor.ensure_all_running()
    }

    /// Starts the services, runs `work` with their environment, and stops
    /// them before returning, so that nothing outlives the run. Says on
    /// stderr if a service died meanwhile, and where the logs are if `work`
    /// failed.
    pub(crate) fn around(work: impl FnOnce(&[(String, String)]) -> Result<()>) -> Result<()> {
        let mut services = Self::start()?;
        let result = work(services.env());
        let died = services.ensure_running().err();
        let run_dir = services.run_dir().to_path_buf();
        drop(services);
        if let Some(died) = died {
            eprintln!("xtask: a service died during the tests: {died:#}");
        }
        if result.is_err() {
            eprintln!("xtask: service logs are in {}", run_dir.display());
        }
        result
    }

    /// Prints the environment as `export` lines.
    pub(crate) fn print_env(&self) {
        for (key, value) in &self.env {
            println!("export {key}={}", cmd::quote(value.as_ref()));
        }
    }
}

/// `cargo xtask services`: start, print the environment, wait for Ctrl-C.
pub(crate) fn run_until_interrupted() -> Result<()> {
    let mut services = Services::start()?;
    println!("# Paste these into another shell to run tests by hand against the services:");
    services.print_env();
    println!("# The services run until Ctrl-C.");
    loop {
        thread::sleep(Duration::from_secs(1));
        services
            .ensure_running()
            .context("a service stopped on its own")?;
    }
}

fn path_string(path: &Path) -> String {
    path.display().to_string()
}

/// Creates `runs/<UTC timestamp>-<pid>`, first removing all but the newest
/// [`KEPT_RUNS`] finished run directories.
fn new_run_dir(runs: &Path) -> Result<PathBuf> {
    fs::create_dir_all(runs).with_context(|| format!("cannot create {}", runs.display()))?;
    let mut finished: Vec<PathBuf> = fs::read_dir(runs)?
        .filter_map(|entry| Some(entry.ok()?.path()))
        // A `pids` file means the run is still going (or was killed outright).
        .filter(|dir| dir.is_dir() && !dir.join("pids").exists())
        .collect();
    finished.sort();
    let excess = finished.len().saturating_sub(KEPT_RUNS - 1);
    for old in &finished[..excess] {
        let _ = fs::remove_dir_all(old);
    }
    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let dir = runs.join(format!("{}-{}", utc_stamp(secs), std::process::id()));
    fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// `YYYYMMDD-HHMMSS` in UTC for seconds since the Unix epoch, so run
/// directories sort by time.
fn utc_stamp(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// The Gregorian date `days` after 1970-01-01. Counts from 0000-03-01 so the
/// leap day ends each 400-year era's years: era, year of era, day of year,
/// then the month from a March-based day of year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let since_0000_03_01 = days + 719_468;
    let era = since_0000_03_01 / 146_097;
    let day_of_era = since_0000_03_01 % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_finished_runs_are_pruned_and_live_ones_kept() -> Result<()> {
        let runs = crate::xtask_dir().join(format!("prune-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&runs);
        for n in 0..12 {
            fs::create_dir_all(runs.join(format!("20000101-0000{n:02}-1")))?;
        }
        let live = runs.join("19990101-000000-1");
        fs::create_dir_all(&live)?;
        fs::write(live.join("pids"), "1")?;

        let new = new_run_dir(&runs)?;
        let mut left: Vec<PathBuf> = fs::read_dir(&runs)?
            .map(|entry| Ok(entry?.path()))
            .collect::<Result<_>>()?;
        left.sort();
        fs::remove_dir_all(&runs)?;

        assert_eq!(left.len(), KEPT_RUNS + 1, "{left:?}");
        assert_eq!(left.first(), Some(&live));
        assert_eq!(left.last(), Some(&new));
        assert!(left.contains(&runs.join("20000101-000011-1")));
        assert!(!left.contains(&runs.join("20000101-000002-1")));
        Ok(())
    }

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000");
        assert_eq!(utc_stamp(1_709_251_199), "20240229-235959");
        assert_eq!(utc_stamp(4_107_542_400), "21000301-000000");
    }
}

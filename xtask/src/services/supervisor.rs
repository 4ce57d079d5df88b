//! Starting service processes and making sure every one of them stops.
//!
//! Each service runs in its own process group, so a Ctrl-C in the terminal
//! reaches xtask and the test runner but not the services: stopping them is
//! the supervisor's job, always by PID. Dropping the [`Supervisor`] stops them
//! on success, on failure and on panic. For the cases where xtask itself dies
//! without unwinding (Ctrl-C, `kill`), a small watchdog shell, started first
//! and also in its own process group, polls xtask's PID and stops the PIDs
//! listed in the run's `pids` file once xtask is gone.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a service gets to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(25);
const LOG_TAIL_LINES: usize = 15;

/// `sh -c` script: `$1` = xtask's PID, `$2` = the pid file. Services are only
/// listed there while xtask has not reaped them, so a listed PID still belongs
/// to the service when xtask dies and cannot have been reused by then.
const WATCHDOG: &str = r#"
parent=$1 pids=$2
while kill -0 "$parent" 2>/dev/null; do sleep 0.5; done
[ -s "$pids" ] || exit 0
set -- $(cat "$pids")
kill -TERM "$@" 2>/dev/null
sleep 2
kill -KILL "$@" 2>/dev/null
rm -f "$pids"
echo "xtask: stopped the services of an interrupted run (PIDs $*)" >&2
"#;

/// A started service process.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcId(usize);

struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
    exit: Option<ExitStatus>,
}

/// Owns the service processes of one run and stops them when dropped.
pub(crate) struct Supervisor {
    dir: PathBuf,
    pid_file: PathBuf,
    procs: Vec<Proc>,
    watchdog: Option<Child>,
}

impl Supervisor {
    /// Starts the watchdog; services' logs and the pid file go into `dir`.
    pub(crate) fn new(dir: &Path) -> Result<Self> {
        let pid_file = dir.join("pids");
        fs::write(&pid_file, "").with_context(|| format!("cannot write {}", pid_file.display()))?;
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "xtask-watchdog"])
            .arg(std::process::id().to_string())
            .arg(&pid_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .context("cannot start the watchdog shell (`sh`)")?;
        Ok(Self {
            dir: dir.to_path_buf(),
            pid_file,
            procs: Vec::new(),
            watchdog: Some(watchdog),
        })
    }

    /// Starts `cmd` in its own process group with stdin closed and its output
    /// in `<dir>/<name>.log`.
    pub(crate) fn spawn(&mut self, name: &str, cmd: &mut Command) -> Result<ProcId> {
        let log = self.dir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let shown = crate::cmd::display(cmd);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {name}: `{shown}`"))?;
        self.procs.push(Proc {
            name: name.to_owned(),
            child,
            log,
            exit: None,
        });
        self.write_pid_file()?;
        Ok(ProcId(self.procs.len() - 1))
    }

    /// Fails, quoting the end of its log, when the process has exited.
    pub(crate) fn ensure_running(&mut self, id: ProcId) -> Result<()> {
        let proc = &mut self.procs[id.0];
        if proc.exit.is_none() {
            proc.exit = proc.child.try_wait()?;
            if proc.exit.is_some() {
                self.write_pid_file()?;
            }
        }
        let proc = &self.procs[id.0];
        match proc.exit {
            None => Ok(()),
            Some(status) => bail!("{} exited ({status}){}", proc.name, self.log_tail(id)),
        }
    }

    /// [`Self::ensure_running`] for every process.
    pub(crate) fn ensure_all_running(&mut self) -> Result<()> {
        (0..self.procs.len()).try_for_each(|index| self.ensure_running(ProcId(index)))
    }

    /// Polls `ready` until it says yes, failing when the process exits first
    /// or `timeout` passes.
    pub(crate) fn wait_until(
        &mut self,
        id: ProcId,
        what: &str,
        timeout: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            self.ensure_running(id)?;
            if ready() {
                return Ok(());
            }
            if start.elapsed() > timeout {
                bail!(
                    "{} did not {what} within {}s{}",
                    self.procs[id.0].name,
                    timeout.as_secs(),
                    self.log_tail(id)
                );
            }
            thread::sleep(POLL);
        }
    }

    /// The last lines of a process's log, formatted to end an error message.
    pub(crate) fn log_tail(&self, id: ProcId) -> String {
        let log = &self.procs[id.0].log;
        let text = fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n    ");
        format!("\n  log {}:\n    {tail}", log.display())
    }

    fn write_pid_file(&self) -> Result<()> {
        let pids: Vec<String> = self
            .procs
            .iter()
            .filter(|proc| proc.exit.is_none())
            .map(|proc| proc.child.id().to_string())
            .collect();
        fs::write(&self.pid_file, pids.join("\n"))
            .with_context(|| format!("cannot write {}", self.pid_file.display()))
    }

    /// Stops every process still running: SIGTERM, a grace period, SIGKILL.
    fn stop_all(&mut self) {
        // The watchdog goes first so it can never act on reaped PIDs.
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        let mut running = Vec::new();
        for proc in &mut self.procs {
            if proc.exit.is_none() {
                match proc.child.try_wait() {
                    Ok(None) => running.push(proc.child.id().to_string()),
                    Ok(Some(status)) => proc.exit = Some(status),
                    Err(_) => {}
                }
            }
        }
        if !running.is_empty() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .args(&running)
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + GRACE;
        for proc in &mut self.procs {
            while proc.exit.is_none() {
                match proc.child.try_wait() {
                    Ok(None) if Instant::now() < deadline => thread::sleep(POLL),
                    Ok(None) => {
                        eprintln!("xtask: {} ignored SIGTERM, killing it", proc.name);
                        let _ = proc.child.kill();
                        proc.exit = proc.child.wait().ok();
                    }
                    Ok(Some(status)) => proc.exit = Some(status),
                    Err(err) => {
                        eprintln!("xtask: cannot wait for {}: {err}", proc.name);
                        break;
                    }
                }
            }
        }
        let _ = fs::remove_file(&self.pid_file);
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop_all();
    }
}

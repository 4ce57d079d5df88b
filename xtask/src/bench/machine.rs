//! What every figure states: the machine, the commit, and how loaded the
//! machine was.

use std::path::Path;
use std::process::Command;

use crate::cmd;

/// The machine and the code a run measured.
#[derive(Clone, Debug)]
pub(crate) struct Machine {
    /// Online cores (`nproc`).
    pub(crate) cores: String,
    /// The first `model name` of `/proc/cpuinfo`.
    pub(crate) cpu: String,
    /// Total memory, from `/proc/meminfo`.
    pub(crate) memory: String,
    /// `uname -r`.
    pub(crate) kernel: String,
    /// `git rev-parse --short HEAD`, with ` (dirty)` for uncommitted changes.
    pub(crate) commit: String,
}

impl Machine {
    pub(crate) fn read(root: &Path) -> Self {
        let text = |cmd: &mut Command| {
            cmd::output(cmd).map_or_else(|_| "unknown".to_owned(), |out| out.trim().to_owned())
        };
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let commit =
            text(
                Command::new("git")
                    .current_dir(root)
                    .args(["rev-parse", "--short", "HEAD"]),
            );
        let dirty = cmd::output(Command::new("git").current_dir(root).args([
            "status",
            "--porcelain",
            "--untracked-files=no",
        ]))
        .is_ok_and(|out| !out.trim().is_empty());
        Self {
            cores: text(&mut Command::new("nproc")),
            cpu: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown CPU".to_owned()),
            memory: field(&meminfo, "MemTotal")
                .and_then(|kb| kb.trim_end_matches(" kB").trim().parse::<f64>().ok())
                .map_or_else(
                    || "unknown".to_owned(),
                    |kb| format!("{:.0} GiB", kb / 1_048_576.0),
                ),
            kernel: text(Command::new("uname").arg("-r")),
            commit: if dirty {
                format!("{commit} (dirty)")
            } else {
                commit
            },
        }
    }

    /// One line for progress output and chart captions.
    pub(crate) fn describe(&self) -> String {
        format!("{} cores, {}", self.cores, self.cpu)
    }
}

/// The value of `name: value` in a `/proc` file.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}

/// The 1-minute load average, from `/proc/loadavg` (NaN when unreadable).
pub(crate) fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Resident memory of process `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    field(&status, "VmRSS")?
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// CPU time a process has used so far (user and system, all its
/// threads), in µs: fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks
/// of `getconf CLK_TCK` (100 on Linux unless told otherwise).
pub(crate) fn cpu_us(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: count after it.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")" the state is field 3, so utime (14) and stime (15) are
    // the 12th and 13th here.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 1e6 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields_are_found_by_name() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu\n";
        assert_eq!(field(text, "model name").as_deref(), Some("AMD EPYC 7B13"));
        assert_eq!(field(text, "cache size"), None);
        assert!(rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        assert!(load_average() >= 0.0);
    }
}

//! The HTTP load generator: `wrk` (Debian's package, installed with
//! `apt-get` when missing and running as root), driven by Lua scripts that
//! add the bearer token, a SID per request, or a JSON body with a fresh
//! subject per request (so the per-subject quota never denies).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Reports what `done` sees as one `BENCH_WRK key=value ...` line
/// (latencies in microseconds).
const DONE: &str = r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_WRK requests=%d duration_us=%d p50_us=%.1f p99_us=%.1f non2xx=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"#;

/// `GET /sessions` with one of many SIDs per request. Argument: a file
/// whose first line is the API token and every further line a SID.
const GET_SESSIONS: &str = r#"
local token, sids, n = nil, {}, 0
function init(args)
  for line in io.lines(args[1]) do
    if token == nil then token = line else sids[#sids + 1] = line end
  end
  n = math.random(#sids)
end
function request()
  n = n % #sids + 1
  return wrk.format("GET", "/session-store/rest/v2/sessions",
    { ["Authorization"] = "Bearer " .. token, ["SID"] = sids[n] })
end
"#;

/// `POST /sessions` for a new subject each time, with a 200-byte data
/// payload. Arguments: the token file, and a run label that keeps subjects
/// of different runs apart.
const POST_SESSIONS: &str = r#"
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local token, label, counter, payload = nil, nil, 0, string.rep("x", 192)
function init(args)
  for line in io.lines(args[1]) do
    if token == nil then token = line end
  end
  label = args[2]
end
function request()
  counter = counter + 1
  local body = '{"sub":"' .. label .. '-' .. tid .. '-' .. counter .. '","data":{"p":"' .. payload .. '"}}'
  return wrk.format("POST", "/session-store/rest/v2/sessions",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, body)
end
"#;

/// One measured case.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Case {
    Healthz,
    GetSession,
    PostSession,
}

impl Case {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Healthz => "GET /healthz",
            Self::GetSession => "GET /sessions (touch)",
            Self::PostSession => "POST /sessions",
        }
    }
}

/// How hard and how long one `wrk` run pushes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Load {
    pub(super) connections: usize,
    /// Client threads (at most one per connection).
    pub(super) threads: usize,
    pub(super) seconds: u64,
}

/// What one `wrk` run measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Outcome {
    pub(super) requests_per_sec: f64,
    pub(super) p50_us: f64,
    pub(super) p99_us: f64,
    pub(super) non_2xx: u64,
    pub(super) errors: u64,
}

/// `wrk` and the scripts, ready to run.
pub(super) struct Wrk {
    bin: PathBuf,
    scripts: PathBuf,
    version: String,
}

impl Wrk {
    /// Finds `wrk` (installing it when missing and root) and writes the
    /// scripts into `dir`.
    pub(super) fn prepare(dir: &Path) -> Result<Self> {
        let bin = match find("wrk") {
            Some(bin) => bin,
            None => install()?,
        };
        let scripts = dir.join("wrk");
        std::fs::create_dir_all(&scripts)?;
        for (name, body) in [
            ("healthz.lua", String::from(DONE)),
            ("get.lua", format!("{GET_SESSIONS}{DONE}")),
            ("post.lua", format!("{POST_SESSIONS}{DONE}")),
        ] {
            std::fs::write(scripts.join(name), body)?;
        }
        // `wrk -v` prints its version and exits 1.
        let version = Command::new(&bin)
            .arg("-v")
            .output()
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default();
        Ok(Self {
            bin,
            scripts,
            version,
        })
    }

    pub(super) fn version(&self) -> &str {
        &self.version
    }

    /// Runs one case; `token_file` holds the token (and the SIDs for a
    /// GET), `label` keeps the subjects of a POST run apart from others'.
    pub(super) fn run(
        &self,
        port: u16,
        case: Case,
        load: Load,
        token_file: &Path,
        label: &str,
    ) -> Result<Outcome> {
        let mut wrk = Command::new(&self.bin);
        wrk.args(["-c", &load.connections.to_string()])
            .args(["-t", &load.threads.clamp(1, load.connections).to_string()])
            .args(["-d", &format!("{}s", load.seconds), "--timeout", "10s"]);
        let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
        match case {
            Case::Healthz => {
                wrk.arg("-s")
                    .arg(self.scripts.join("healthz.lua"))
                    .arg(url("/healthz"));
            }
            Case::GetSession => {
                wrk.arg("-s")
                    .arg(self.scripts.join("get.lua"))
                    .arg(url("/"))
                    .arg("--")
                    .arg(token_file);
            }
            Case::PostSession => {
                wrk.arg("-s")
                    .arg(self.scripts.join("post.lua"))
                    .arg(url("/"))
                    .arg("--")
                    .arg(token_file)
                    .arg(label);
            }
        }
        let output = cmd::output(&mut wrk)?;
        parse(&output).with_context(|| format!("unexpected wrk output:\n{output}"))
    }
}

/// Reads the `BENCH_WRK` line.
fn parse(output: &str) -> Result<Outcome> {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_WRK "))
        .context("no BENCH_WRK line")?;
    let field = |key: &str| -> Result<f64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .with_context(|| format!("no {key}"))?
            .parse()
            .with_context(|| format!("bad {key}"))
    };
    let duration_s = field("duration_us")? / 1e6;
    Ok(Outcome {
        requests_per_sec: field("requests")? / duration_s,
        p50_us: field("p50_us")?,
        p99_us: field("p99_us")?,
        non_2xx: field("non2xx")? as u64,
        errors: field("errors")? as u64,
    })
}

/// Installs Debian's `wrk` package (root only).
fn install() -> Result<PathBuf> {
    let root = cmd::output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0");
    if !root || find("apt-get").is_none() {
        bail!("wrk is not installed; install it (Debian: apt-get install wrk) and run again");
    }
    println!("bench: wrk is not installed; installing Debian's wrk package with apt-get");
    let apt = |args: &[&str]| {
        let mut apt = Command::new("apt-get");
        apt.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        apt
    };
    cmd::run(&mut apt(&["update", "-q"]))?;
    cmd::run(&mut apt(&[
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "wrk",
    ]))?;
    find("wrk").context("apt-get installed wrk, yet it is not on PATH")
}

fn find(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_done_line_is_read() -> Result<()> {
        let out = "Running 1s test\nBENCH_WRK requests=5000 duration_us=2000000 p50_us=310.0 p99_us=1200.5 non2xx=3 errors=0\n";
        let outcome = parse(out)?;
        assert!((outcome.requests_per_sec - 2500.0).abs() < 1e-9);
        assert!((outcome.p99_us - 1200.5).abs() < 1e-9);
        assert_eq!((outcome.non_2xx, outcome.errors), (3, 0));
        assert!(parse("nothing").is_err());
        Ok(())
    }
}

//! The `tessera` server as a child process of the benchmark (stopped by PID
//! when dropped), and the blocking HTTP calls that set up sessions and wait
//! for readiness.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const TIMEOUT: Duration = Duration::from_secs(5);

/// A free loopback port, chosen by the kernel.
pub(crate) fn free_port() -> Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A server process, stopped (SIGTERM, then SIGKILL) when dropped.
pub(crate) struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `cmd` in its own process group with its output in `log`, and
    /// waits until `GET /healthz` on `port` answers 200.
    pub(crate) fn start(cmd: &mut Command, port: u16, log: &Path) -> Result<Self> {
        let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start `{}`", crate::cmd::display(cmd)))?;
        let mut server = Self {
            child,
            log: log.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("the server exited ({status}); log:\n{}", server.log_text());
            }
            if request(port, "GET", "/healthz", &[], "").is_ok_and(|(status, _)| status == 200) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!(
                    "the server did not answer /healthz within 30 s; log:\n{}",
                    server.log_text()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(25));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// One request; returns the status and the body, whatever the status.
pub(super) fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let uri = format!("http://127.0.0.1:{port}{path}");
    let mut req = ureq::http::Request::builder().method(method).uri(&uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut response = agent
        .run(req.body(body.to_owned())?)
        .with_context(|| format!("{method} {path}"))?;
    let text = response.body_mut().read_to_string()?;
    Ok((response.status().as_u16(), text))
}

/// The string value of `key` in a JSON object text.
pub(super) fn json_string(text: &str, key: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.get(key)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_read() {
        let body = r#"{"sid": "abc.def", "id": "x"}"#;
        assert_eq!(json_string(body, "sid").as_deref(), Some("abc.def"));
        assert_eq!(json_string(body, "nope"), None);
        assert!(free_port().is_ok_and(|port| port > 0));
    }
}

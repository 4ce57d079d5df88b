//! What the command-line tests share: running `tessera serve` on a free
//! port and reading its banner, and a minimal HTTP/1.1 client.

// Each test binary uses a different subset.
#![allow(dead_code, unreachable_pub)]

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use tessera_store::testkit::KillOnDrop;

pub mod redis;

/// The API's base path.
pub const BASE: &str = "/session-store/rest/v2";

/// `tessera` with an empty environment.
pub fn tessera() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.env_clear();
    command
}

/// A running `tessera serve`, killed on drop.
pub struct Server {
    child: KillOnDrop,
    /// `host:port` it listens on.
    pub addr: String,
    /// The token generated on an embedded first start, read from the file
    /// the banner names (standard output is not a terminal here, so the
    /// token is never printed).
    pub token: Option<String>,
    /// Everything printed up to the `curl` line.
    pub banner: String,
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits up to `limit` for the process to exit;
    /// returns whether it did.
    pub fn terminate(&mut self, limit: std::time::Duration) -> bool {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}

/// Starts `command` (a `tessera serve` listening on port 0) and reads its
/// banner up to the ready-to-paste `curl` line.
pub fn serve(command: Command) -> Server {
    serve_with_stderr(command, Stdio::null())
}

/// [`serve`], with the server's standard error (its log) going to `stderr`.
pub fn serve_with_stderr(mut command: Command, stderr: Stdio) -> Server {
    let mut child = command
        .arg("-Dserver.listen=127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    let mut addr = None;
    let mut token = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if let Some(rest) = line
            .strip_prefix("tessera: listening on http://")
            .or_else(|| line.strip_prefix("tessera: listening on https://"))
        {
            addr = Some(rest.split_whitespace().next().unwrap().to_owned());
        }
        if let Some((_, rest)) = line.split_once("it is in ")
            && let Some((path, _)) = rest.split_once(" (mode 0600)")
        {
            let text = std::fs::read_to_string(path).unwrap();
            token = Some(text.trim_end().to_owned());
        }
        if line.trim_start().starts_with("curl ") {
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("the server did not start:\n{banner}"));
    Server {
        child: KillOnDrop(child),
        addr,
        token,
        banner,
    }
}

/// One HTTP/1.1 exchange: the status and the body.
pub fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if !body.is_empty() {
        let _ = write!(
            head,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The resident set size of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A string field of a JSON body.
pub fn json_field(body: &str, field: &str) -> String {
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {body}"))
        .to_owned()
}

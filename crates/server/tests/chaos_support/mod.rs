//! What the reliability tests share: the service variables `cargo xtask
//! test` exports, `tessera serve` processes started from a configuration
//! file, private `redis-server` and `moto_server` processes that a test may
//! kill, pause and restart, and a small async API client.
//!
//! Every process started here is owned by a guard that kills it on drop,
//! so a failed assertion leaves nothing running.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part"
)]

pub mod load;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
pub use tessera_store::testkit::{service_env, unique};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tessera_crypto::TokenHash;
use tessera_store::testkit::KillOnDrop;

/// The API's base path.
pub const BASE: &str = "/session-store/rest/v2";
/// The API token every test server accepts (configured as its hash).
pub const TOKEN: &str = "chaos-tests-token-0123456789abcdefghijklmnop";
/// The safe password of every test server.
pub const SAFE_PASSWORD: &str = "chaos-Tests_9qZ-mW2xVbR";

/// A free loopback port (free when asked; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The `sessionStore:` block every test server gets: the token's hash and
/// the quota.
pub fn session_store_block(quota: u32, on_exhaustion: &str) -> String {
    format!(
        "sessionStore:\n  apiAccessTokenSHA256: {}\n  quotaPerSubject: {quota}\n  onQuotaExhaustion: {on_exhaustion}\n  internal.subjectIndexPurgeInterval: -1\n",
        TokenHash::of(TOKEN)
    )
}

/// `tessera <args>` with `config` as its file, in an empty environment
/// (plus the dummy AWS variables, so nothing looks for real credentials),
/// with `dir` as its home.
pub fn tessera(dir: &Path, name: &str, config: &str) -> Command {
    let file = dir.join(format!("{name}.yml"));
    std::fs::write(&file, config).expect("write the configuration");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .env_clear()
        .env("HOME", dir)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("--config")
        .arg(file);
    command
}

/// A running `tessera serve`, killed on drop. Its log (standard error) is
/// `<dir>/<name>.log`.
pub struct Tessera {
    child: KillOnDrop,
    /// `http://host:port`.
    pub url: String,
    log: PathBuf,
}

impl Tessera {
    /// Starts `tessera serve` with `config` on a free port and waits until
    /// it listens.
    pub fn start(dir: &Path, name: &str, config: &str) -> Self {
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log).expect("create the log file");
        let mut child = tessera(dir, name, config)
            .arg("serve")
            .arg("-Dserver.listen=127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start tessera serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut server = Self {
            child: KillOnDrop(child),
            url: String::new(),
            log,
        };
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("tessera: listening on ") {
                let url = rest.split_whitespace().next().unwrap_or_default();
                url.clone_into(&mut server.url);
                break;
            }
        }
        assert!(
            !server.url.is_empty(),
            "tessera serve ({name}) did not start{}",
            server.log_tail()
        );
        // The rest of the banner (and nothing after it) goes to a thread
        // that reads until the process exits, so no write ever blocks.
        std::thread::spawn(move || lines.for_each(drop));
        server
    }

    /// The process id, to show a recovery happened without a restart.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The end of the server's log, to close a failure message.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

/// The last lines of a log file, formatted to end an error message.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n    ");
    format!("\n  log {}:\n    {tail}", path.display())
}

/// Runs a `tessera` administrative command and fails with its output when
/// it does not succeed.
pub fn run_admin(dir: &Path, name: &str, config: &str, args: &[&str]) -> String {
    let out = tessera(dir, name, config)
        .args(args)
        .output()
        .expect("run tessera");
    assert!(
        out.status.success(),
        "tessera {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends `signal` (`STOP`, `CONT`) to `pid` with `kill(1)`.
fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Waits until `ready` says yes, polling, or fails after `limit`.
fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} within {}s",
            limit.as_secs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server` of the test's own, on a fixed port and folder,
/// persisting every write before answering (AOF with `fsync` always), so
/// a restart on the same folder has every acknowledged write. Killed on
/// drop.
pub struct PrivateRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts a server with its data in `dir`.
    pub fn start(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("create the Redis folder");
        let mut redis = Self {
            port: free_port(),
            dir: dir.to_owned(),
            child: None,
        };
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on the same port and folder and waits
    /// until it answers `PING`.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let child = Command::new(service_env("TESSERA_TEST_REDIS_SERVER_BIN"))
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let port = self.port;
        wait_for("redis-server answers PING", Duration::from_secs(10), || {
            redis_answers(port)
        });
    }

    /// SIGKILL: no goodbye to the clients, no final write.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn redis_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 5];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG"
}

/// A `moto_server` (the DynamoDB emulator, in xtask's serializing wrapper)
/// of the test's own, on a fixed port. It keeps its tables in memory: a
/// kill loses them, a pause (SIGSTOP) does not. Killed on drop.
pub struct PrivateMoto {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateMoto {
    /// Starts an emulator on a free port.
    pub fn start() -> Self {
        let mut moto = Self {
            port: free_port(),
            child: None,
        };
        moto.restart();
        moto
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the emulator (again, empty) on the same port and waits until
    /// it answers HTTP.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "moto_server is already running");
        let child = Command::new(service_env("TESSERA_TEST_MOTO_SERVER_BIN"))
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        self.child = Some(child);
        let port = self.port;
        wait_for("moto_server answers HTTP", Duration::from_secs(60), || {
            http_answers(port)
        });
    }

    /// SIGKILL; the emulator's tables are gone with it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the port still accepts connections, nothing answers.
    pub fn pause(&self) {
        signal(self.pid(), "STOP");
    }

    /// SIGCONT after [`Self::pause`].
    pub fn resume(&self) {
        signal(self.pid(), "CONT");
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("moto_server is running").id()
    }
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        self.kill();
    }
}

fn http_answers(port: u16) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut head = [0; 5];
        stream.read_exact(&mut head)?;
        Ok(&head == b"HTTP/")
    };
    attempt().unwrap_or(false)
}

/// One answer of the API, as the tests need it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    /// The `error` code of an error body.
    pub error: Option<String>,
    pub retry_after: bool,
    pub body: Value,
}

/// An async client of one or more `tessera` servers, with the token.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
}

impl Api {
    /// A client whose requests give up after `limit` (a hang is then a
    /// transport error the test reports, not a test that never ends).
    pub fn new(limit: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(limit)
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .expect("HTTP client");
        Self { client }
    }

    /// `method <BASE><path>` on `server` (a base URL), with an optional
    /// SID and JSON body.
    pub async fn call(
        &self,
        server: &str,
        method: Method,
        path: &str,
        sid: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, reqwest::Error> {
        let mut request = self
            .client
            .request(method, format!("{server}{BASE}{path}"))
            .bearer_auth(TOKEN);
        if let Some(sid) = sid {
            request = request.header("SID", sid);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::answer(request.send().await?).await
    }

    /// The status of `GET /readyz` on `server`.
    pub async fn ready(&self, server: &str) -> Result<Answer, reqwest::Error> {
        Self::answer(self.client.get(format!("{server}/readyz")).send().await?).await
    }

    async fn answer(response: reqwest::Response) -> Result<Answer, reqwest::Error> {
        let status = response.status();
        let retry_after = response.headers().contains_key("retry-after");
        let bytes = response.bytes().await?;
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let error = body["error"].as_str().map(str::to_owned);
        Ok(Answer {
            status,
            error,
            retry_after,
            body,
        })
    }
}

/// Prints one line of a test's numbers, prefixed `CHAOS`: shown with
/// `--nocapture`, which `cargo xtask chaos` passes.
#[expect(clippy::print_stdout, reason = "the numbers are the report")]
pub fn report(line: &str) {
    println!("CHAOS {line}");
}

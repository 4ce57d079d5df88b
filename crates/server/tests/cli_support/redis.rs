//! A Redis of the test's own, for tests that stop and start it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_store::testkit::{KillOnDrop, service_env};

/// A Redis of the test's own, in a folder laid out as the docs assume: a
/// `dir`, a configuration file, started and stopped as a service would be.
pub struct PrivateRedis {
    /// Its `dir`.
    pub dir: PathBuf,
    /// Its configuration file.
    pub conf: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    process: Option<KillOnDrop>,
}

impl PrivateRedis {
    pub fn new(root: &Path, aof: bool) -> Self {
        let dir = root.join("var/lib/redis");
        std::fs::create_dir_all(&dir).unwrap();
        let conf = root.join("etc/redis/redis.conf");
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let appendonly = if aof { "yes" } else { "no" };
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nappendonly {appendonly}\n\
                 maxmemory-policy noeviction\n",
                dir.display()
            ),
        )
        .unwrap();
        Self {
            dir,
            conf,
            port,
            process: None,
        }
    }

    pub fn cli(&self) -> Command {
        let mut command = Command::new(service_env("TESSERA_TEST_REDIS_CLI_BIN"));
        command.args(["-p", &self.port.to_string()]);
        command
    }

    /// `systemctl start redis-server`: starts and waits until the data is
    /// loaded.
    pub fn start(&mut self) {
        let child = Command::new(service_env("TESSERA_TEST_REDIS_SERVER_BIN"))
            .arg(&self.conf)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.process = Some(KillOnDrop(child));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.cli().arg("PING").output().unwrap();
            if String::from_utf8_lossy(&out.stdout).trim() == "PONG" {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `systemctl stop redis-server`: a clean shutdown (which saves, as
    /// SIGTERM does).
    pub fn stop(&mut self) {
        let _ = self.cli().arg("SHUTDOWN").output();
        if let Some(mut process) = self.process.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while process.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "redis-server did not stop");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

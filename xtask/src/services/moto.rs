//! The DynamoDB emulator: `moto_server` from a pinned venv, run through a
//! wrapper that applies one request at a time.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::install;
use super::supervisor::{ProcId, Supervisor};

/// Pinned so every machine tests against the same emulator; changing a pin
/// rebuilds the venv on the next run.
const REQUIREMENTS: [&str; 3] = ["moto[dynamodb]==5.2.5", "flask==3.1.3", "flask-cors==6.0.5"];
/// The first start after an install also compiles Python bytecode.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// `moto_server` wrapped so that requests apply one at a time, like
/// DynamoDB's atomic conditional writes (the file says why).
const SERIAL_SERVER: &str = include_str!("moto_server_serial.py");
const SERIAL_SERVER_NAME: &str = "moto_server_serial";

/// The absolute path of the serializing `moto_server`, installing moto into
/// `target/xtask/moto-venv` first when that venv is missing or stale.
pub(crate) fn ensure_installed(xtask_dir: &Path) -> Result<PathBuf> {
    let venv = std::path::absolute(xtask_dir.join("moto-venv"))?;
    install::ensure_venv_for("the DynamoDB emulator", &venv, &REQUIREMENTS)?;
    if !venv.join("bin/moto_server").is_file() {
        bail!(
            "{} has no bin/moto_server after installing {}",
            venv.display(),
            REQUIREMENTS.join(" ")
        );
    }
    // Rewritten when it differs, so an edit to the wrapper reaches old venvs.
    let server = venv.join("bin").join(SERIAL_SERVER_NAME);
    let script = format!("#!{}\n{SERIAL_SERVER}", venv.join("bin/python").display());
    if fs::read_to_string(&server).ok().as_deref() != Some(script.as_str()) {
        fs::write(&server, &script)
            .with_context(|| format!("cannot write {}", server.display()))?;
        fs::set_permissions(&server, fs::Permissions::from_mode(0o755))?;
    }
    Ok(server)
}

/// Starts the emulator on `port`; [`wait_ready`] waits for it.
pub(crate) fn spawn(sup: &mut Supervisor, server: &Path, port: u16) -> Result<ProcId> {
    let mut cmd = Command::new(server);
    cmd.args(["-H", "127.0.0.1", "-p"]).arg(port.to_string());
    sup.spawn(&format!("moto-{port}"), &mut cmd)
}

/// Waits until `moto_server` on `port` answers an HTTP request (any status).
pub(crate) fn wait_ready(sup: &mut Supervisor, id: ProcId, port: u16) -> Result<()> {
    sup.wait_until(
        id,
        &format!("answer HTTP on port {port}"),
        STARTUP_TIMEOUT,
        || answers_http(port),
    )
}

fn answers_http(port: u16) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream =
            TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
        let mut head = [0; 5];
        stream.read_exact(&mut head)?;
        Ok(&head == b"HTTP/")
    };
    attempt().unwrap_or(false)
}

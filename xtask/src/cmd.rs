//! Running child processes: echo what runs, fail with the command's name.

use std::ffi::OsStr;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// A `cargo` command for the toolchain that runs xtask (cargo passes its own
/// path in `CARGO`).
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cmd` with inherited stdio after echoing it; fails unless it exits 0.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    run_with_env(cmd, &[])
}

/// Like [`run`], with `env` added to the child's environment but left out of
/// the echo (the service environment is printed once, not on every command).
pub(crate) fn run_with_env(cmd: &mut Command, env: &[(String, String)]) -> Result<()> {
    let shown = display(cmd);
    println!("$ {shown}");
    cmd.envs(env.iter().map(|(key, value)| (key, value)));
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Whether `cmd` starts and exits 0, with all of its output thrown away.
pub(crate) fn succeeds_quietly(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `cmd` and returns its stdout; fails with its stderr unless it exits 0.
pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let shown = display(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{shown}` printed non-UTF-8 output"))
}

/// The command as a shell would show it, with the variables it sets first.
pub(crate) fn display(cmd: &Command) -> String {
    let envs = cmd.get_envs().filter_map(|(key, value)| {
        value.map(|value| format!("{}={}", key.to_string_lossy(), quote(value)))
    });
    // The toolchain's cargo has a long path that says nothing worth reading.
    let program = if std::env::var_os("CARGO").is_some_and(|cargo| cargo == cmd.get_program()) {
        "cargo".to_owned()
    } else {
        quote(cmd.get_program())
    };
    let program = std::iter::once(program);
    let args = cmd.get_args().map(quote);
    envs.chain(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `word` quoted for a POSIX shell when it needs quoting.
pub(crate) fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_a_shell_would_split() {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--save", "", "--dir", "/tmp/a b"]).env("A", "1");
        assert_eq!(display(&cmd), "A=1 redis-server --save '' --dir '/tmp/a b'");
    }
}

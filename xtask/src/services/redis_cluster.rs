//! A three-master Redis Cluster on loopback, no replicas.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::ports::Ports;
use super::redis::{self, RedisBins};
use super::supervisor::{ProcId, Supervisor};
use crate::cmd;

/// Redis Cluster needs at least three masters to cover the slots.
const NODES: usize = 3;
/// Long enough for a loaded CI machine, short enough for failover tests.
const NODE_TIMEOUT_MS: &str = "2000";
const FORM_TIMEOUT: Duration = Duration::from_secs(15);

/// The cluster's nodes, started but not yet joined; see [`Cluster::form`].
pub(crate) struct Cluster {
    nodes: Vec<(u16, ProcId)>,
    create_log: PathBuf,
}

/// Starts the node processes; each gets a port whose bus port is free too.
pub(crate) fn spawn(
    sup: &mut Supervisor,
    bins: &RedisBins,
    ports: &mut Ports,
    run_dir: &Path,
) -> Result<Cluster> {
    let mut nodes = Vec::with_capacity(NODES);
    for _ in 0..NODES {
        let port = ports.cluster_node()?;
        let dir = run_dir.join(format!("cluster-{port}"));
        let mut cmd = redis::server_command(bins, port, &dir)?;
        cmd.args([
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            NODE_TIMEOUT_MS,
        ])
        .arg("--cluster-config-file")
        .arg(dir.join("nodes.conf"));
        nodes.push((port, sup.spawn(&format!("redis-cluster-{port}"), &mut cmd)?));
    }
    Ok(Cluster {
        nodes,
        create_log: run_dir.join("redis-cluster-create.log"),
    })
}

impl Cluster {
    /// Waits for the nodes, joins them with `redis-cli --cluster create`, and
    /// waits until every node reports `cluster_state:ok`.
    pub(crate) fn form(&self, sup: &mut Supervisor, bins: &RedisBins) -> Result<()> {
        for &(port, id) in &self.nodes {
            redis::wait_ready(sup, id, port)?;
        }
        let mut create = Command::new(&bins.cli);
        create
            .arg("--cluster")
            .arg("create")
            .args(
                self.nodes
                    .iter()
                    .map(|(port, _)| format!("127.0.0.1:{port}")),
            )
            .args(["--cluster-replicas", "0", "--cluster-yes"]);
        let shown = cmd::display(&create);
        let out = create
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run `{shown}`"))?;
        let log = [out.stdout, out.stderr].concat();
        fs::write(&self.create_log, &log)
            .with_context(|| format!("cannot write {}", self.create_log.display()))?;
        if !out.status.success() {
            bail!(
                "`{shown}` failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&log).trim_end()
            );
        }
        for &(port, id) in &self.nodes {
            sup.wait_until(id, "report cluster_state:ok", FORM_TIMEOUT, || {
                redis::command(port, &["CLUSTER", "INFO"])
                    .is_ok_and(|info| info.lines().any(|line| line.trim() == "cluster_state:ok"))
            })?;
        }
        Ok(())
    }

    /// `redis://127.0.0.1:P1,redis://127.0.0.1:P2,...`
    pub(crate) fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|(port, _)| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

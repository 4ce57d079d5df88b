//! Free loopback ports, picked by binding port 0 and letting the kernel choose.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};

use anyhow::{Result, bail};

/// Redis Cluster nodes also listen on their port + 10000 (the cluster bus),
/// which must stay a valid port.
const CLUSTER_BUS_OFFSET: u16 = 10_000;
const MAX_CLUSTER_PORT: u16 = u16::MAX - CLUSTER_BUS_OFFSET;
const ATTEMPTS: usize = 200;

/// Hands out distinct free ports. A port is free when we check it; another
/// program could take it before the service binds it, which a service start
/// then reports as a failure.
#[derive(Default)]
pub(crate) struct Ports {
    handed_out: HashSet<u16>,
}

impl Ports {
    /// A free port not handed out before.
    pub(crate) fn any(&mut self) -> Result<u16> {
        self.pick(|_| true, "a free loopback port")
    }

    /// A free port below 55535 whose cluster bus port (+10000) is free too.
    pub(crate) fn cluster_node(&mut self) -> Result<u16> {
        let port = self.pick(
            |port| port < MAX_CLUSTER_PORT && is_free(port + CLUSTER_BUS_OFFSET),
            "a free loopback port below 55535 with its cluster bus port free",
        )?;
        self.handed_out.insert(port + CLUSTER_BUS_OFFSET);
        Ok(port)
    }

    fn pick(&mut self, fits: impl Fn(u16) -> bool, what: &str) -> Result<u16> {
        for _ in 0..ATTEMPTS {
            let port = kernel_chosen_port()?;
            if !self.handed_out.contains(&port) && fits(port) {
                self.handed_out.insert(port);
                return Ok(port);
            }
        }
        bail!("found no {what} in {ATTEMPTS} tries")
    }
}

fn kernel_chosen_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_cluster_ports_leave_room_for_the_bus() -> Result<()> {
        let mut ports = Ports::default();
        let mut seen = HashSet::new();
        for _ in 0..3 {
            let port = ports.cluster_node()?;
            assert!(port < MAX_CLUSTER_PORT);
            assert!(seen.insert(port) && seen.insert(port + CLUSTER_BUS_OFFSET));
        }
        for _ in 0..3 {
            assert!(seen.insert(ports.any()?));
        }
        Ok(())
    }
}

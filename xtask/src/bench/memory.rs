//! Part `memory`: the server's resident memory (VmRSS) idle and at its peak
//! under the `server` part's load, and Redis bytes per stored session (the
//! `INFO memory` `used_memory` delta over many sessions with a 200-byte data
//! payload; target at most twice the payload). Reuses what earlier parts of
//! the same run measured, and measures what is missing.

use std::process::Command;

use anyhow::{Result, bail};

use super::report::{Headline, table};
use super::{Bench, json, server};
use crate::cmd;

const PAYLOAD_BYTES: f64 = 200.0;

pub(super) fn run(bench: &mut Bench) -> Result<()> {
    let results = if let Some(results) = bench.server.clone() {
        results
    } else {
        bench.progress("no server figures in this run yet: a short load of the server");
        let results = server::measure(bench, &[64], if bench.quick { 3 } else { 5 })?;
        bench.server = Some(results.clone());
        results
    };
    let rows: Vec<Vec<String>> = results
        .memory
        .iter()
        .map(|m| {
            vec![
                format!("{} store", m.backend),
                mib(m.idle_kib),
                mib(m.peak_kib),
                m.stored_sessions.to_string(),
            ]
        })
        .collect();
    let mut body = String::from(
        "Server: VmRSS from `/proc/<pid>/status` right after start-up and its peak, sampled \
         every 100 ms, while `wrk` ran the `server` part's cases (up to 64 connections).\n\n",
    );
    body.push_str(&table(
        &[
            "server",
            "RSS after start",
            "RSS peak under load",
            "sessions stored at the end",
        ],
        &rows,
    ));
    for m in &results.memory {
        bench.report.headline(Headline {
            area: format!("memory, server on {} store", m.backend),
            what: "resident memory, peak under load".into(),
            value: mib(m.peak_kib),
            baseline: format!("after start-up {}", mib(m.idle_kib)),
            ratio: "—".into(),
            target: "none set".into(),
            met: None,
        });
    }

    let mut per_session: Vec<(String, f64)> = Vec::new();
    if let Some((bytes, sessions)) = bench.redis_bytes_per_session {
        per_session.push((format!("{sessions} sessions (bench_redis)"), bytes));
    }
    for (sessions, bytes) in &bench.redis_scale_bytes {
        per_session.push((format!("{sessions:.0} sessions (scale)"), *bytes));
    }
    if per_session.is_empty() {
        let sessions = if bench.quick { 10_000 } else { 100_000 };
        bench.progress(&format!("Redis memory over {sessions} sessions"));
        let bins = super::peers::build_drivers(bench)?;
        bench.redis_command(&["FLUSHALL"])?;
        let url = bench.redis_url()?;
        let cli = bench.redis_cli()?;
        let output = cmd::output(
            Command::new(bins.join("scale"))
                .args([
                    "--backend",
                    "redis",
                    "--url",
                    &url,
                    "--sessions",
                    &sessions.to_string(),
                ])
                .args(["--ops", "100"])
                .arg("--redis-cli")
                .arg(cli),
        )?;
        for r in json::records(&output)? {
            if r.text("op") == "populate" && r.number("bytes_per_session").is_finite() {
                per_session.push((
                    format!("{sessions} sessions (scale)"),
                    r.number("bytes_per_session"),
                ));
            }
        }
    }
    if per_session.is_empty() {
        bail!("no Redis memory figure was measured");
    }
    body.push_str(
        "\nRedis: `used_memory` after minus before creating the sessions, over their number. \
         Each session is a hash (the record with its `last_used` and limits) plus an entry in \
         its subject's sorted-set index, and the key expiry; all of it counts.\n\n",
    );
    let rows: Vec<Vec<String>> = per_session
        .iter()
        .map(|(what, bytes)| {
            vec![
                what.clone(),
                format!("{bytes:.0}"),
                format!("{:.2}×", bytes / PAYLOAD_BYTES),
            ]
        })
        .collect();
    body.push_str(&table(
        &[
            "measured over",
            "bytes per session",
            "× the 200-byte payload",
        ],
        &rows,
    ));
    bench.report.section("memory", "Memory", body);
    // The largest population is the steadiest figure.
    if let Some((what, bytes)) = per_session.last() {
        bench.report.headline(Headline {
            area: "memory, Redis".into(),
            what: format!("bytes per session, {what}"),
            value: format!("{bytes:.0} B"),
            baseline: "200-byte data payload".into(),
            ratio: format!("{:.2}×", bytes / PAYLOAD_BYTES),
            target: "≤ 2×".into(),
            met: Some(*bytes <= 2.0 * PAYLOAD_BYTES),
        });
    }
    Ok(())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

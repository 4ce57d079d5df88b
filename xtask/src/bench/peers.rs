//! Part `peers`: Tessera's Redis store beside tower-sessions
//! (`tower-sessions-redis-store`) and actix-session (`RedisSessionStore`,
//! called directly: it needs no web server) on the same Redis, in the same
//! process and run, at the same concurrency, with the same 200-byte data
//! payload. The driver lives in `xtask/peers/`, a workspace of its own so
//! the main one never builds the peers.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use super::Bench;
use super::chart::{Chart, Kind, Series};
use super::json::{self, Record};
use super::report::{Headline, latency, percent, rate, table};
use crate::cmd;

/// Tessera's operation, and the peers' operations it is compared with
/// (plain, then semantically equivalent).
const PAIRS: [(&str, &[(&str, &str)]); 2] = [
    (
        "get-and-touch",
        &[
            ("tower-sessions", "load"),
            ("tower-sessions", "load+save"),
            ("actix-session", "load"),
            ("actix-session", "load+update_ttl"),
        ],
    ),
    (
        "create",
        &[("tower-sessions", "create"), ("actix-session", "save")],
    ),
];

/// Builds the drivers of `xtask/peers` (release, sharing the main target
/// directory) and returns the directory of their binaries.
pub(super) fn build_drivers(bench: &mut Bench) -> Result<PathBuf> {
    bench.progress("building the bench drivers of xtask/peers (release)");
    let target = super::target_dir(&bench.root);
    let mut build = cmd::cargo();
    build
        .current_dir(bench.root.join("xtask/peers"))
        .args(["build", "--release", "--quiet", "--locked", "--bins"])
        .env("CARGO_TARGET_DIR", &target);
    let started = std::time::Instant::now();
    let result = cmd::run(&mut build);
    bench.build_seconds += started.elapsed().as_secs_f64();
    result?;
    Ok(target.join("release"))
}

pub(super) fn run(bench: &mut Bench) -> Result<()> {
    let bins = build_drivers(bench)?;
    let url = bench.redis_url()?;
    let (ops, concurrency, systems) = if bench.quick {
        (10_000, "64", "tessera,tower-sessions,actix-session")
    } else {
        (30_000, "1,16,64", "tessera,tower-sessions,actix-session")
    };
    bench.redis_command(&["FLUSHALL"])?;
    bench.progress(&format!(
        "peers: {ops} operations per case at concurrency {concurrency}: {systems}"
    ));
    let output = cmd::output(
        Command::new(bins.join("peers"))
            .args(["--url", &url, "--ops", &ops.to_string()])
            .args(["--concurrency", concurrency, "--systems", systems]),
    )?;
    std::fs::write(bench.out.join("peers.log"), &output)?;
    let records = json::records(&output)?;
    if records.is_empty() {
        bail!("the peers driver printed no results (see target/bench/peers.log)");
    }
    let find = |system: &str, op: &str, c: f64| {
        records
            .iter()
            .find(|r| r.text("system") == system && r.text("op") == op && r.is("concurrency", c))
    };
    let levels: Vec<f64> = {
        let mut levels: Vec<f64> = records.iter().map(|r| r.number("concurrency")).collect();
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        levels
    };

    let mut rows = Vec::new();
    for &c in &levels {
        for (tessera_op, peers) in PAIRS {
            let Some(ours) = find("tessera", tessera_op, c) else {
                continue;
            };
            rows.push(row("Tessera", tessera_op, c, ours, None));
            for (system, op) in peers {
                if let Some(theirs) = find(system, op, c) {
                    rows.push(row(system, op, c, theirs, Some(ours)));
                }
            }
        }
        if let Some(save) = find("tower-sessions", "save", c) {
            rows.push(row("tower-sessions", "save", c, save, None));
        }
    }
    let mut body = format!(
        "The driver `xtask/peers/src/bin/peers.rs` runs each store in one process against the \
         same fresh Redis, {ops} operations per case, as many tasks as the concurrency, records \
         with the same 200-byte data payload. Tessera and tower-sessions use a fred pool of 4 \
         connections; actix-session uses its own single multiplexed redis-rs connection (its \
         futures are not `Send`, so its tasks share one thread). actix-session's store is \
         called directly through its `SessionStore` trait: no web server is needed.\n\n"
    );
    body.push_str(&table(
        &[
            "concurrency",
            "store",
            "operation",
            "ops/s",
            "p50",
            "p99",
            "Tessera ÷ this",
        ],
        &rows,
    ));
    body.push_str(
        "\n**What each does per call.** Tessera get-and-touch: one EVALSHA whose script reads \
         the session, checks three expiry terms (hard, since-authentication, idle), moves \
         `last_used` and the key's expiry, and returns the record. Tessera create: one EVALSHA \
         that reads the subject's index, applies the quota decision, writes the session and the \
         index entry and sets both expiries. tower-sessions: `load` is one GET and a \
         MessagePack decode, `save` one SET with EXAT, `create` one SET NX; under a sliding \
         expiry its session layer does load + save per request, which is what Tessera's touch \
         does in one round trip. actix-session: `load` is one GET and a JSON decode, `save` of a \
         new session one SET NX EX, the sliding-expiry equivalent load + EXPIRE. Neither peer \
         has a subject index, a quota, or more than one expiry term; neither authenticates its \
         session keys (Tessera's SID verification happens before the store and is not part of \
         these figures).\n",
    );
    bench
        .report
        .section("peers", "Peers on the same Redis", body);

    let top = levels.last().copied().unwrap_or(64.0);
    for (tessera_op, peers) in PAIRS {
        let Some(ours) = find("tessera", tessera_op, top) else {
            continue;
        };
        for (system, op) in peers {
            if let Some(theirs) = find(system, op, top) {
                bench.report.headline(Headline {
                    area: "peers (Redis)".into(),
                    what: format!("Tessera {tessera_op} vs {system} {op}, concurrency {top}"),
                    value: format!("{}/s", rate(ours.number("ops_per_sec"))),
                    baseline: format!("{system} {op} {}/s", rate(theirs.number("ops_per_sec"))),
                    ratio: percent(ours.number("ops_per_sec"), theirs.number("ops_per_sec")),
                    target: "none set".into(),
                    met: None,
                });
            }
        }
    }
    let names: Vec<(String, String)> = {
        let mut names: Vec<(String, String)> = records
            .iter()
            .map(|r| (r.text("system").to_owned(), r.text("op").to_owned()))
            .collect();
        names.dedup();
        names.sort();
        names.dedup();
        names
    };
    bench.report.chart(
        "peers",
        Chart {
            file: "throughput-peers.svg".to_owned(),
            title: "Session stores on one Redis: throughput against concurrency".to_owned(),
            kind: Kind::Lines,
            x_label: "concurrency (tasks)".to_owned(),
            y_label: "operations per second".to_owned(),
            categories: levels.iter().map(|c| format!("{c:.0}")).collect(),
            series: names
                .iter()
                .map(|(system, op)| Series {
                    name: format!("{system} {op}"),
                    values: levels
                        .iter()
                        .map(|c| find(system, op, *c).map(|r| r.number("ops_per_sec")))
                        .collect(),
                })
                .collect(),
            baseline: "the peers, same Redis, same process, same run".to_owned(),
        },
    );
    Ok(())
}

fn row(system: &str, op: &str, c: f64, r: &Record, tessera: Option<&Record>) -> Vec<String> {
    vec![
        format!("{c:.0}"),
        system.to_owned(),
        op.to_owned(),
        rate(r.number("ops_per_sec")),
        latency(r.number("p50_us")),
        latency(r.number("p99_us")),
        tessera.map_or_else(String::new, |t| {
            percent(t.number("ops_per_sec"), r.number("ops_per_sec"))
        }),
    ]
}

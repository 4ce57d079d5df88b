//! Part `peers`: Tessera's Redis store beside tower-sessions
//! (`tower-sessions-redis-store`) and actix-session (`RedisSessionStore`,
//! called directly: it needs no web server) on the same Redis, in the same
//! process and run, at the same concurrency, with the same 200-byte data
//! payload. The driver lives in `xtask/peers/`, a workspace of its own so
//! the main one never builds the peers.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use super::Bench;
use super::chart::{Chart, Kind, Series};
use super::json::{self, Record};
use super::report::{Headline, latency, percent, rate, table};
use crate::cmd;

/// Tessera's throughput targets against a peer's operation: (Tessera's
/// operation, peer, peer's operation, least ratio), at concurrency 16 and
/// 64.
const TARGETS: [(&str, &str, &str, f64); 2] = [
    ("get-and-touch", "tower-sessions", "load", 1.0),
    ("create", "tower-sessions", "create", 0.6),
];
/// Tessera's Redis bytes per session against tower-sessions': at most.
const MEMORY_TARGET: f64 = 1.5;

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
    let target = crate::target_dir();
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
    let (ops, concurrency, systems, memory_sessions) = if bench.quick {
        (
            10_000,
            "16,64",
            "tessera,tower-sessions,actix-session",
            20_000,
        )
    } else {
        (
            30_000,
            "1,16,64",
            "tessera,tower-sessions,actix-session",
            100_000,
        )
    };
    bench.redis_command(&["FLUSHALL"])?;
    bench.progress(&format!(
        "peers: {ops} operations per case at concurrency {concurrency}: {systems}"
    ));
    let output = cmd::output(
        Command::new(bins.join("peers"))
            .args(["--url", &url, "--ops", &ops.to_string()])
            .args(["--concurrency", concurrency, "--systems", systems])
            .args(["--memory-sessions", &memory_sessions.to_string()]),
    )?;
    std::fs::write(bench.out.join("peers.log"), &output)?;
    let records = json::records(&output)?;
    if records.is_empty() {
        bail!("the peers driver printed no results (see target/bench/peers.log)");
    }
    let memory: Vec<&Record> = records
        .iter()
        .filter(|r| r.text("op") == "memory")
        .collect();
    let bisection: Vec<&Record> = records
        .iter()
        .filter(|r| r.text("system") == "bisect")
        .collect();
    let scripts: Vec<&Record> = records
        .iter()
        .filter(|r| r.text("op") == "create-script")
        .collect();
    let records: Vec<&Record> = records
        .iter()
        .filter(|r| {
            r.text("op") != "memory"
                && r.text("system") != "bisect"
                && r.text("op") != "create-script"
        })
        .collect();
    let find = |system: &str, op: &str, c: f64| {
        records
            .iter()
            .copied()
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
        "The driver `xtask/peers/src/bin/peers/` runs each store in one process against the \
         same fresh Redis, {ops} operations per case, as many tasks as the concurrency, records \
         with the same 200-byte data payload. Tessera's get-and-touch and create and \
         tower-sessions' load and create alternate over 5 rounds (the first two as rows of the \
         read bisection below), and each figure is the median round; the other operations run \
         once. Tessera and tower-sessions use a fred pool of 4 \
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
        "\n**What each does per call.** Tessera get-and-touch: one GETRANGE of the session value \
         (a GET bounded by the record size cap), \
         decoded and checked against three expiry terms (hard, since-authentication, idle) \
         with the caller's clock; once per touch window (60 s) since the stored last use, one \
         more call, a script, writes the use, and none falls due within a run. Tessera create: one EVALSHA \
         that reads the subject's index, applies the quota decision, and writes the session \
         value (encoded by the client) with its expiry and the index entry. tower-sessions: `load` is one GET and a \
         MessagePack decode, `save` one SET with EXAT, `create` one SET NX; under a sliding \
         expiry its session layer does load + save per request, which is what Tessera's touch \
         does once per window. actix-session: `load` is one GET and a JSON decode, `save` of a \
         new session one SET NX EX, the sliding-expiry equivalent load + EXPIRE. Neither peer \
         has a subject index, a quota, or more than one expiry term; neither authenticates its \
         session keys (Tessera's SID verification happens before the store and is not part of \
         these figures).\n",
    );
    for script in &scripts {
        let _ = writeln!(
            body,
            "\nThe create script on Redis's thread (`INFO commandstats`, `usec_per_call` of \
             `EVALSHA` over the create rounds), concurrency {:.0}: {:.1} µs.",
            script.number("concurrency"),
            script.number("usec_per_call")
        );
    }
    bench
        .report
        .section("peers", "Peers on the same Redis", body);
    if !bisection.is_empty() {
        bench.report.section(
            "bisection",
            "The read, taken apart",
            bisection_table(&bisection),
        );
    }

    let top = levels.last().copied().unwrap_or(64.0);
    for (tessera_op, peers) in PAIRS {
        for (system, op) in peers {
            let target = TARGETS
                .iter()
                .find(|t| (t.0, t.1, t.2) == (tessera_op, *system, *op));
            let levels_here: Vec<f64> = if target.is_some() {
                [16.0, 64.0]
                    .into_iter()
                    .filter(|c| levels.contains(c))
                    .collect()
            } else {
                vec![top]
            };
            for c in levels_here {
                let (Some(ours), Some(theirs)) =
                    (find("tessera", tessera_op, c), find(system, op, c))
                else {
                    continue;
                };
                let ratio = ours.number("ops_per_sec") / theirs.number("ops_per_sec");
                bench.report.headline(Headline {
                    area: "peers (Redis)".into(),
                    what: format!("Tessera {tessera_op} vs {system} {op}, concurrency {c}"),
                    value: format!("{}/s", rate(ours.number("ops_per_sec"))),
                    baseline: format!("{system} {op} {}/s", rate(theirs.number("ops_per_sec"))),
                    ratio: percent(ours.number("ops_per_sec"), theirs.number("ops_per_sec")),
                    target: target
                        .map_or_else(|| "none set".into(), |t| format!("≥ {:.0}%", 100.0 * t.3)),
                    met: target.map(|t| ratio >= t.3),
                });
            }
        }
    }
    if !memory.is_empty() {
        let bytes = |system: &str| {
            memory
                .iter()
                .find(|r| r.text("system") == system)
                .map(|r| r.number("bytes_per_session"))
        };
        let rows: Vec<Vec<String>> = memory
            .iter()
            .map(|r| {
                vec![
                    r.text("system").to_owned(),
                    format!("{:.0}", r.number("sessions")),
                    format!("{:.0} B", r.number("bytes_per_session")),
                    bytes("tessera").map_or_else(String::new, |t| {
                        format!("{:.2}×", t / r.number("bytes_per_session"))
                    }),
                ]
            })
            .collect();
        bench.report.section(
            "peers-memory",
            "Redis memory per session, beside the peers",
            format!(
                "Each store in turn starts from an empty Redis (`FLUSHALL`), creates the sessions \
                 (200-byte data payload; for Tessera each of its own subject, so each with its own \
                 subject index key, the worst case) and reports `used_memory` after minus before, \
                 over their number.\n\n{}",
                table(
                    &["store", "sessions", "bytes per session", "Tessera ÷ this"],
                    &rows
                )
            ),
        );
        if let (Some(ours), Some(tower)) = (bytes("tessera"), bytes("tower-sessions")) {
            bench.report.headline(Headline {
                area: "memory, Redis".into(),
                what: "bytes per session vs tower-sessions-redis-store".into(),
                value: format!("{ours:.0} B"),
                baseline: format!("tower-sessions {tower:.0} B"),
                ratio: format!("{:.2}×", ours / tower),
                target: format!("≤ {MEMORY_TARGET}×"),
                met: Some(ours <= MEMORY_TARGET * tower),
            });
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

/// Rows of the bisection beside its chain of layers: what the store did
/// before, measured for comparison.
const BESIDE: [&str; 2] = ["fred-timeout", "next-connected"];

/// The bisection's rows at each concurrency: ops/s, and each row against
/// the one before it and against tower-sessions' `load` (the first row).
fn bisection_table(rows: &[&Record]) -> String {
    let mut levels: Vec<f64> = rows.iter().map(|r| r.number("concurrency")).collect();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    let rounds = rows.first().map_or(0.0, |r| r.number("rounds"));
    let mut body = format!(
        "From exactly what tower-sessions' `load` does to Tessera's whole `Sessions::get`, one \
         layer per row, on the same Redis, the same 1,000 sessions and pools of the same size. \
         Every row runs once per round, the rows interleaved, {rounds:.0} rounds; each figure is \
         the row's median round. \"vs before\" compares a row with the layer above it; \
         `fred-timeout` and `next-connected` are beside the chain: what the store did before, \
         each compared with the layer it replaced.\n\n"
    );
    let mut table_rows = Vec::new();
    for &c in &levels {
        let at: Vec<&&Record> = rows.iter().filter(|r| r.is("concurrency", c)).collect();
        let first = at.first().map_or(f64::NAN, |r| r.number("ops_per_sec"));
        let mut before = f64::NAN;
        for r in at {
            let ops = r.number("ops_per_sec");
            // A row beside the chain (what the store no longer does) is
            // compared with the row above it, and the chain goes on from
            // that row.
            let beside = BESIDE.contains(&r.text("op"));
            table_rows.push(vec![
                format!("{c:.0}"),
                format!("`{}`", r.text("op")),
                r.text("what").to_owned(),
                rate(ops),
                latency(r.number("p50_us")),
                if before.is_nan() {
                    String::new()
                } else {
                    percent(ops, before)
                },
                percent(ops, first),
            ]);
            if !beside {
                before = ops;
            }
        }
    }
    body.push_str(&table(
        &[
            "concurrency",
            "row",
            "what it adds",
            "ops/s",
            "p50",
            "vs before",
            "vs tower-sessions load",
        ],
        &table_rows,
    ));
    body
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

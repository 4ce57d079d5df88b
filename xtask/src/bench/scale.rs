//! Part `scale`: get-and-touch and create on each store holding 10k, 100k
//! and 1M sessions (the local store and Redis; the emulator cannot hold a
//! large table, see [`EMULATOR`]), to show how the cost of an
//! operation grows with the number stored. The baseline is the same store
//! at 10k sessions in the same run; the target is flat, within 1.5× from
//! 10k to 1M. The driver is `xtask/peers/src/bin/scale.rs`.

use std::fmt::Write as _;
use std::process::Command;

use anyhow::{Result, bail};

use super::Bench;
use super::chart::{Chart, Kind, Series};
use super::json::{self, Record};
use super::report::{Headline, latency, rate, table, times};
use crate::cmd;

/// Why the DynamoDB store has no scale figures.
const EMULATOR: &str = "\n### DynamoDB store: not measured\n\n\
    The emulator cannot hold a large table: its cost per request grows with the number of \
    items it stores. Populating it (two requests per create) ran at about 80 requests/s with \
    250 items stored, 7 requests/s at 1,300 and 0.1 requests/s soon after, with its memory \
    past 4 GB, so 10k sessions would take hours and would measure the emulator, not Tessera. \
    What can be measured is the number of requests per operation, and that does not depend on \
    the table's size: get-and-touch is one UpdateItem and create under the quota one GetItem \
    and one TransactWriteItems at any size (part `dynamodb`). DynamoDB itself serves a key \
    lookup in the same time whatever the table's size.\n";

/// How one backend is driven.
struct Plan {
    backend: &'static str,
    sizes: &'static [usize],
    ops: usize,
    concurrency: usize,
    populate_concurrency: usize,
    /// Skip a size whose population would take longer than this.
    max_populate_seconds: u64,
}

fn plans(quick: bool) -> Vec<Plan> {
    let plan =
        |backend, sizes, ops, concurrency, populate_concurrency, max_populate_seconds| Plan {
            backend,
            sizes,
            ops,
            concurrency,
            populate_concurrency,
            max_populate_seconds,
        };
    if quick {
        vec![
            plan("local", &[10_000], 2_000, 1, 64, 60),
            plan("redis", &[10_000], 5_000, 16, 256, 60),
        ]
    } else {
        vec![
            plan("local", &[10_000, 100_000, 1_000_000], 20_000, 1, 64, 600),
            plan("redis", &[10_000, 100_000, 1_000_000], 50_000, 16, 256, 300),
        ]
    }
}

pub(super) fn run(bench: &mut Bench) -> Result<()> {
    let bins = super::peers::build_drivers(bench)?;
    let mut all: Vec<Record> = Vec::new();
    let mut body = String::from(
        "The driver `xtask/peers/src/bin/scale.rs` populates each store with one session per \
         subject (200-byte data payload) by many concurrent creates, then measures \
         get-and-touch of sessions spread over the whole store and creates of new subjects \
         (at most a fifth of the size, so the store grows by at most 20% while measured). All \
         sessions are created at one logical instant and read 10 s later, so every size sees \
         the same state. The baseline of each row is the same store at 10k sessions, measured \
         in the same run; cost growth is p50 latency at that size over p50 at 10k.\n\n",
    );
    let mut failures = Vec::new();
    for plan in plans(bench.quick) {
        let sizes: Vec<String> = plan.sizes.iter().map(ToString::to_string).collect();
        let mut run = Command::new(bins.join("scale"));
        run.args(["--backend", plan.backend, "--sessions", &sizes.join(",")])
            .args(["--ops", &plan.ops.to_string()])
            .args(["--concurrency", &plan.concurrency.to_string()])
            .args([
                "--populate-concurrency",
                &plan.populate_concurrency.to_string(),
            ])
            .args([
                "--max-populate-seconds",
                &plan.max_populate_seconds.to_string(),
            ]);
        let local_dir = bench.out.join("scale-local");
        match plan.backend {
            "local" => {
                let _ = std::fs::remove_dir_all(&local_dir);
                run.arg("--path").arg(&local_dir);
            }
            "redis" => {
                bench.redis_command(&["FLUSHALL"])?;
                let cli = bench.redis_cli()?;
                run.args(["--url", &bench.redis_url()?])
                    .arg("--redis-cli")
                    .arg(cli);
            }
            _ => {
                run.args([
                    "--endpoint",
                    &bench.service_env("TESSERA_TEST_DYNAMODB_ENDPOINT")?,
                ]);
                for (key, value) in bench.services()?.env() {
                    if key.starts_with("AWS_") {
                        run.env(key, value);
                    }
                }
            }
        }
        bench.progress(&format!(
            "scale {}: {} sessions, concurrency {}",
            plan.backend,
            sizes.join(" / "),
            plan.concurrency
        ));
        let output = cmd::output(&mut run);
        if plan.backend == "local" {
            bench.progress("removing the local store's files");
            let _ = std::fs::remove_dir_all(&local_dir);
        }
        let output = match output {
            Ok(output) => output,
            Err(err) => {
                failures.push(format!("{}: {err:#}", plan.backend));
                continue;
            }
        };
        std::fs::write(
            bench.out.join(format!("scale-{}.log", plan.backend)),
            &output,
        )?;
        let records = json::records(&output)?;
        body.push_str(&section(bench, &plan, &records));
        all.extend(records);
    }
    body.push_str(EMULATOR);
    bench.report.note(
        "scale: no DynamoDB figures: the emulator's cost per request grows with its table \
         (see the scale section)"
            .to_owned(),
    );
    body.push_str(
        "\nWhat limits these: the local store reads one file per session from the page cache \
         (at 1M sessions, about 8 GB of small files and their directory entries) and writes two \
         durably per create; Redis keeps everything in one hash table, so only cache misses \
         grow with size; the emulator is single-threaded Python and far slower than DynamoDB, \
         whose latency does not depend on the table's size.\n",
    );
    bench
        .report
        .section("scale", "Scale: 10k to 1M stored sessions", body);
    chart(bench, &all);
    if !failures.is_empty() {
        bail!("scale failed for {}", failures.join("; "));
    }
    Ok(())
}

/// The table of one backend, and its headlines.
fn section(bench: &mut Bench, plan: &Plan, records: &[Record]) -> String {
    let find = |op: &str, size: f64| {
        records
            .iter()
            .find(|r| r.text("op") == op && r.is("sessions", size))
    };
    let mut rows = Vec::new();
    for populate in records.iter().filter(|r| r.text("op") == "populate") {
        let size = populate.number("sessions");
        for op in ["get-and-touch", "create"] {
            let Some(r) = find(op, size) else {
                continue;
            };
            let growth = find(op, plan.sizes[0] as f64).map_or_else(
                || "n/a".to_owned(),
                |base| times(r.number("p50_us"), base.number("p50_us")),
            );
            rows.push(vec![
                format!("{size:.0}"),
                op.to_owned(),
                rate(r.number("ops_per_sec")),
                latency(r.number("p50_us")),
                latency(r.number("p99_us")),
                growth,
                format!(
                    "{:.0} s ({}/s)",
                    populate.number("seconds"),
                    rate(populate.number("added") / populate.number("seconds"))
                ),
            ]);
        }
        let bytes = populate.number("bytes_per_session");
        if bytes.is_finite() {
            bench.redis_scale_bytes.push((size, bytes));
        }
    }
    let mut md = format!(
        "\n### {} store (concurrency {})\n\n",
        plan.backend, plan.concurrency
    );
    md.push_str(&table(
        &[
            "sessions",
            "operation",
            "ops/s",
            "p50",
            "p99",
            "p50 vs 10k",
            "population",
        ],
        &rows,
    ));
    for skipped in records.iter().filter(|r| r.text("op") == "skipped") {
        let line = format!(
            "{} store: {:.0} sessions skipped: populating would have taken about {:.0} s, over this run's limit of {} s",
            plan.backend,
            skipped.number("sessions"),
            skipped.number("predicted_seconds"),
            plan.max_populate_seconds
        );
        let _ = write!(md, "\n**{line}.**\n");
        bench.report.note(format!("scale: {line}"));
    }

    // Headline: the largest size reached against the smallest.
    let largest = records
        .iter()
        .filter(|r| r.text("op") == "populate")
        .map(|r| r.number("sessions"))
        .fold(f64::NAN, f64::max);
    let smallest = plan.sizes[0] as f64;
    if largest > smallest {
        for op in ["get-and-touch", "create"] {
            if let (Some(small), Some(large)) = (find(op, smallest), find(op, largest)) {
                let growth = large.number("p50_us") / small.number("p50_us");
                bench.report.headline(Headline {
                    area: format!("scale, {} store", plan.backend),
                    what: format!(
                        "{op} p50 at {} vs {} sessions",
                        short(largest),
                        short(smallest)
                    ),
                    value: format!("{} at {}", latency(large.number("p50_us")), short(largest)),
                    baseline: format!("{} at {}", latency(small.number("p50_us")), short(smallest)),
                    ratio: format!("{growth:.2}×"),
                    target: "≤ 1.5×".into(),
                    met: Some(growth <= 1.5),
                });
            }
        }
    }
    md
}

fn short(sessions: f64) -> String {
    if sessions >= 1e6 {
        format!("{:.0}M", sessions / 1e6)
    } else {
        format!("{:.0}k", sessions / 1e3)
    }
}

/// Cost growth against stored sessions, one line per backend and operation.
fn chart(bench: &mut Bench, records: &[Record]) {
    let mut sizes: Vec<f64> = records
        .iter()
        .filter(|r| r.text("op") == "get-and-touch")
        .map(|r| r.number("sessions"))
        .collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    let mut series = Vec::new();
    for backend in ["local", "redis", "dynamodb"] {
        for op in ["get-and-touch", "create"] {
            let of = |size: f64| {
                records.iter().find(|r| {
                    r.text("system") == backend && r.text("op") == op && r.is("sessions", size)
                })
            };
            let Some(base) = sizes.first().and_then(|s| of(*s)) else {
                continue;
            };
            series.push(Series {
                name: format!("{backend} {op}"),
                values: sizes
                    .iter()
                    .map(|s| of(*s).map(|r| r.number("p50_us") / base.number("p50_us")))
                    .collect(),
            });
        }
    }
    bench.report.chart(
        "scale",
        Chart {
            file: "scale.svg".to_owned(),
            title: "Cost growth with stored sessions (p50 / p50 at 10k)".to_owned(),
            kind: Kind::Lines,
            x_label: "stored sessions".to_owned(),
            y_label: "p50 latency relative to 10k sessions".to_owned(),
            categories: sizes.iter().map(|s| short(*s)).collect(),
            series,
            baseline: "the same store at 10k sessions, same run (target: at most 1.5)".to_owned(),
        },
    );
}

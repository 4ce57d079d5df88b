//! Part `local`: the folder store, one operation at a time, beside a raw
//! `std::fs::read` of a session file and a raw temp-file + fsync + rename +
//! directory-fsync loop, both measured by the same program in the same run
//! (`crates/store-local/examples/bench_local.rs`).

use std::process::Command;

use anyhow::{Result, bail};

use super::Bench;
use super::json::{self, Record};
use super::report::{Headline, latency, percent, rate, table};
use crate::cmd;

const READ_BASELINE: &str = "baseline: std::fs::read of a session file";
const WRITE_BASELINE: &str = "baseline: raw temp+fsync+rename+dir fsync";
/// Issue 3's absolute target for get-and-touch from a warm page cache.
const TOUCH_TARGET: f64 = 100_000.0;

pub(super) fn run(bench: &mut Bench) -> Result<()> {
    bench.cargo_build(
        "bench_local",
        &["-p", "tessera-store-local", "--example", "bench_local"],
    )?;
    let (sessions, reads, writes) = if bench.quick {
        (1_000, 10_000, 200)
    } else {
        (10_000, 100_000, 1_000)
    };
    bench.progress(&format!(
        "bench_local: {sessions} sessions, {reads} reads and {writes} writes per operation"
    ));
    let mut run = Command::new(super::release_bin("examples/bench_local"));
    run.args([sessions.to_string(), reads.to_string(), writes.to_string()])
        // Its temporary store goes under target/, on the disk the data is.
        .env("TMPDIR", &bench.out);
    let output = cmd::output(&mut run)?;
    std::fs::write(bench.out.join("local.log"), &output)?;
    let records = json::records(&output)?;
    if records.is_empty() {
        bail!("bench_local printed no BENCH lines");
    }
    let find = |op: &str| records.iter().find(|r| r.text("op") == op);
    let (Some(read), Some(write)) = (find(READ_BASELINE), find(WRITE_BASELINE)) else {
        bail!("bench_local printed no baseline rows");
    };
    let (read_rate, write_rate) = (read.number("ops_per_sec"), write.number("ops_per_sec"));

    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let op = r.text("op");
            let baseline = if op.starts_with("baseline") {
                String::new()
            } else if is_write(op) {
                percent(r.number("ops_per_sec"), write_rate)
            } else {
                percent(r.number("ops_per_sec"), read_rate)
            };
            vec![
                op.to_owned(),
                rate(r.number("ops_per_sec")),
                latency(r.number("p50_us")),
                latency(r.number("p99_us")),
                baseline,
            ]
        })
        .collect();
    let mut body = format!(
        "`bench_local {sessions} {reads} {writes}`: {sessions} stored sessions, one operation \
         at a time (concurrency 1), reads 10 s after the sessions were written (inside the \
         store's 60 s touch-coalescing window, as in steady traffic). Reads are compared with a \
         raw `std::fs::read` of a session file, writes with a raw temp file + fsync + rename + \
         directory fsync, both from the same program in the same run.\n\n"
    );
    body.push_str(&table(
        &["operation", "ops/s", "p50", "p99", "vs its raw baseline"],
        &rows,
    ));
    body.push_str(
        "\nA create writes two files durably (the session and the subject's index), each a \
         temp file + fsync + rename + directory fsync, under the subject's lock: about half the \
         raw loop's rate is the floor the disk sets. Reads are page-cache reads plus JSON \
         decoding and the expiry check.\n",
    );
    bench.report.section("local", "Local folder store", body);

    if let Some(touch) = find("get_and_touch") {
        let ops = touch.number("ops_per_sec");
        bench.report.headline(Headline {
            area: "local store".into(),
            what: "get-and-touch (1 at a time)".into(),
            value: format!("{}/s, p99 {}", rate(ops), latency(touch.number("p99_us"))),
            baseline: format!("raw fs::read {}/s", rate(read_rate)),
            ratio: percent(ops, read_rate),
            target: "≥ 100k ops/s (absolute, issue 3)".into(),
            met: Some(ops >= TOUCH_TARGET),
        });
    }
    if let Some(create) = find("create") {
        let ops = create.number("ops_per_sec");
        bench.report.headline(Headline {
            area: "local store".into(),
            what: "create (1 at a time)".into(),
            value: format!("{}/s, p99 {}", rate(ops), latency(create.number("p99_us"))),
            baseline: format!("raw temp+fsync+rename {}/s", rate(write_rate)),
            ratio: percent(ops, write_rate),
            target: "none set (2 durable writes: ≈50%)".into(),
            met: None,
        });
    }
    let latency_ops: Vec<&Record> = records
        .iter()
        .filter(|r| !r.text("op").starts_with("baseline"))
        .collect();
    bench.latency_chart(
        "latency-local.svg",
        &format!("Local store latency, {sessions} sessions, one at a time"),
        &latency_ops
            .iter()
            .map(|r| {
                (
                    r.text("op").to_owned(),
                    r.number("p50_us"),
                    r.number("p99_us"),
                )
            })
            .collect::<Vec<_>>(),
        &format!(
            "raw fs::read p50 {}, raw durable write p50 {}",
            latency(read.number("p50_us")),
            latency(write.number("p50_us"))
        ),
    );
    Ok(())
}

fn is_write(op: &str) -> bool {
    ["update", "create", "delete"].contains(&op)
}

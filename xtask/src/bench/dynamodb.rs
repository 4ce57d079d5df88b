//! Part `dynamodb`: requests and capacity units per store operation against
//! the emulator (`crates/store-dynamodb/examples/bench_dynamodb.rs`). The
//! emulator is a single-threaded Python process, so its latency says
//! nothing about DynamoDB and is not reported; request counts are exact.

use std::process::Command;

use anyhow::{Result, bail};

use super::Bench;
use super::report::Headline;
use crate::cmd;

pub(super) fn run(bench: &mut Bench) -> Result<()> {
    bench.cargo_build(
        "bench_dynamodb",
        &[
            "-p",
            "tessera-store-dynamodb",
            "--example",
            "bench_dynamodb",
        ],
    )?;
    let endpoint = bench.service_env("TESSERA_TEST_DYNAMODB_ENDPOINT")?;
    let iterations = if bench.quick { 3 } else { 20 };
    bench.progress(&format!(
        "bench_dynamodb: {iterations} rounds of every operation"
    ));
    let mut run = Command::new(super::release_bin("examples/bench_dynamodb"));
    run.args([
        "--endpoint",
        &endpoint,
        "--iterations",
        &iterations.to_string(),
    ]);
    for (key, value) in bench.services()?.env() {
        if key.starts_with("AWS_") {
            run.env(key, value);
        }
    }
    let output = cmd::output(&mut run)?;
    std::fs::write(bench.out.join("dynamodb.log"), &output)?;
    let table: Vec<&str> = output.lines().filter(|l| l.starts_with('|')).collect();
    if table.len() < 3 {
        bail!("bench_dynamodb printed no table (see target/bench/dynamodb.log)");
    }
    let mut body = format!(
        "`bench_dynamodb --iterations {iterations}` against the `moto` emulator: HTTP requests \
         per operation (every attempt counts, retries included), which API calls they were, and \
         the capacity units the endpoint reported. The emulator is single-threaded Python and \
         applies one request at a time; its latency means nothing for DynamoDB and is not \
         measured.\n\n"
    );
    body.push_str(&table.join("\n"));
    body.push('\n');
    body.push_str(
        "\nWhat limits DynamoDB in production is one HTTPS round trip per request (get-and-touch \
         is one conditional UpdateItem; create under the quota is a consistent read of the \
         subject's index item and one TransactWriteItems), and the capacity each consumes.\n",
    );
    bench
        .report
        .section("dynamodb", "DynamoDB store (emulator)", body);

    let requests = |operation: &str| -> Option<f64> {
        table.iter().find_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            (cells.first() == Some(&operation)).then(|| cells.get(1)?.parse().ok())?
        })
    };
    for (operation, target) in [("get-and-touch", 1.0), ("create (under the quota)", 2.0)] {
        match requests(operation) {
            Some(n) => bench.report.headline(Headline {
                area: "DynamoDB store".into(),
                what: format!("requests per {operation}"),
                value: format!("{n:.2}"),
                baseline: "counted at the SDK (emulator)".into(),
                ratio: "—".into(),
                target: format!("{target:.0}"),
                met: Some((n - target).abs() < 0.01),
            }),
            None => bench.report.note(format!(
                "dynamodb: no `{operation}` row in bench_dynamodb's table"
            )),
        }
    }
    Ok(())
}

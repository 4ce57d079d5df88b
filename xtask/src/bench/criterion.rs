//! Part `core`: the criterion benchmarks of `tessera-core` and
//! `tessera-crypto`, read from criterion's `estimates.json` files (median),
//! with SID verification set against ring's bare HMAC-SHA256 over the same
//! 16 bytes (`baseline/hmac_sha256_16B`, measured in the same run).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use super::report::{Headline, percent, rate, table, times};
use super::{Bench, json};
use crate::cmd;

const BASELINE: &str = "baseline/hmac_sha256_16B";
const SID_VERIFY: &str = "sid/verify_and_storage_key";

pub(super) fn run(bench: &mut Bench) -> Result<()> {
    let started = SystemTime::now();
    let mut criterion_args = vec!["--noplot"];
    if bench.quick {
        criterion_args.extend(["--warm-up-time", "0.5", "--measurement-time", "1"]);
    }
    bench.progress("cargo bench -p tessera-core -p tessera-crypto (criterion)");
    let mut cargo = cmd::cargo();
    cargo
        .current_dir(&bench.root)
        .args([
            "bench",
            "--quiet",
            "-p",
            "tessera-core",
            "-p",
            "tessera-crypto",
            "--",
        ])
        .args(&criterion_args);
    let output = cmd::output(&mut cargo)?;
    std::fs::write(bench.out.join("core.log"), &output)?;

    let dir = crate::target_dir().join("criterion");
    let mut results = Vec::new();
    for estimates in find_estimates(&dir)? {
        let fresh = std::fs::metadata(&estimates)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified >= started);
        if !fresh {
            continue;
        }
        let new_dir = estimates.parent().context("estimates.json has a folder")?;
        let id = std::fs::read_to_string(new_dir.join("benchmark.json"))
            .ok()
            .and_then(|text| full_id(&text))
            .unwrap_or_else(|| new_dir.parent().unwrap_or(new_dir).display().to_string());
        let median = json::criterion_median_ns(&std::fs::read_to_string(&estimates)?)
            .with_context(|| format!("reading {}", estimates.display()))?;
        results.push((id, median));
    }
    if results.is_empty() {
        bail!(
            "criterion wrote no estimates under {} during this run",
            dir.display()
        );
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    let median = |id: &str| {
        results
            .iter()
            .find(|(name, _)| name == id)
            .map(|(_, ns)| *ns)
    };
    let baseline = median(BASELINE);

    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|(id, ns)| {
            vec![
                format!("`{id}`"),
                format!("{ns:.1}"),
                rate(1e9 / ns),
                baseline.map_or_else(|| "n/a".to_owned(), |b| times(*ns, b)),
            ]
        })
        .collect();
    let mut body = format!(
        "Criterion medians ({} warm-up / measurement per benchmark), one thread. The baseline \
         is `{BASELINE}`: ring's HMAC-SHA256 of 16 bytes with nothing around it, the floor \
         under verifying a SID's tag.\n\n",
        if bench.quick {
            "0.5 s / 1 s"
        } else {
            "3 s / 5 s, criterion's defaults"
        }
    );
    body.push_str(&table(
        &[
            "benchmark",
            "median ns",
            "per second (one core)",
            "cost vs bare HMAC",
        ],
        &rows,
    ));
    body.push_str(
        "\nSID verification decodes the 45-character SID, recomputes the HMAC tag, compares it in \
         constant time and derives the storage key (one SHA-256): about two hash computations \
         where the baseline does one.\n",
    );
    bench
        .report
        .section("core", "Core and crypto (criterion)", body);

    match (median(SID_VERIFY), baseline) {
        (Some(verify), Some(hmac)) => bench.report.headline(Headline {
            area: "crypto".into(),
            what: "SID verification (tag + storage key)".into(),
            value: format!("{}/s ({verify:.0} ns)", rate(1e9 / verify)),
            baseline: format!(
                "bare HMAC-SHA256 16 B: {}/s ({hmac:.0} ns)",
                rate(1e9 / hmac)
            ),
            ratio: percent(hmac, verify),
            target: "none set (≈50%: two hashes vs one)".into(),
            met: None,
        }),
        _ => bench.report.note(format!(
            "core: `{SID_VERIFY}` or `{BASELINE}` missing from criterion's output"
        )),
    }
    Ok(())
}

/// Every `new/estimates.json` below `dir`.
fn find_estimates(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.ends_with("new/estimates.json") {
                found.push(path);
            }
        }
    }
    Ok(found)
}

/// `full_id` of criterion's `benchmark.json`.
fn full_id(text: &str) -> Option<String> {
    let at = text.find("\"full_id\"")?;
    let rest = text[at + "\"full_id\"".len()..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_benchmark_id_comes_from_benchmark_json() {
        let text = r#"{"group_id":"sid","function_id":"mint","full_id":"sid/mint","directory_name":"sid/mint"}"#;
        assert_eq!(full_id(text).as_deref(), Some("sid/mint"));
        assert_eq!(full_id("{}"), None);
    }
}

//! Part `redis`: the Redis store's get-and-touch and create at concurrency
//! 1, 16 and 64 beside `redis-benchmark` running a plain GET of a value the
//! record's size and the very call get-and-touch sends (a GET of the
//! session's key), on the same Redis in the same run,
//! plus round trips per operation and Redis memory per session. The
//! measuring program is `crates/store-redis/examples/bench_redis.rs`; this
//! module runs it and reads its report.

use std::fmt::Write as _;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::Bench;
use super::chart::{Chart, Kind, Series};
use super::report::{Headline, latency, percent, rate, table};
use crate::cmd;

/// `ops/s (p50 / p99)`, latencies in milliseconds, as bench_redis prints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Cell {
    pub(super) ops_per_sec: f64,
    pub(super) p50_us: f64,
    pub(super) p99_us: f64,
}

/// One concurrency's row of bench_redis's table.
#[derive(Clone, Debug, PartialEq)]
struct Row {
    concurrency: u32,
    get: Option<Cell>,
    script: Option<Cell>,
    touch: Cell,
    create: Cell,
}

pub(super) fn run(bench: &mut Bench) -> Result<()> {
    bench.cargo_build(
        "bench_redis",
        &["-p", "tessera-store-redis", "--example", "bench_redis"],
    )?;
    let url = bench.redis_url()?;
    let cli = bench.redis_cli()?;
    let redis_benchmark = cli.with_file_name("redis-benchmark");
    let (ops, memory_sessions) = if bench.quick {
        (10_000, 5_000)
    } else {
        (100_000, 100_000)
    };
    bench.redis_command(&["FLUSHALL"])?;
    bench.progress(&format!(
        "bench_redis: {ops} operations at concurrency 1, 16, 64, beside redis-benchmark; memory over {memory_sessions} sessions"
    ));
    let mut run = Command::new(super::release_bin("examples/bench_redis"));
    run.args([
        "--url",
        &url,
        "--ops",
        &ops.to_string(),
        "--concurrency",
        "1,16,64",
    ])
    .args(["--memory-sessions", &memory_sessions.to_string()]);
    let have_benchmark = redis_benchmark.is_file();
    if have_benchmark {
        run.arg("--redis-benchmark").arg(&redis_benchmark);
    } else {
        bench.report.note(format!(
            "redis: no redis-benchmark next to {}; Redis throughput has no baseline",
            cli.display()
        ));
    }
    let output = cmd::output(&mut run)?;
    std::fs::write(bench.out.join("redis.log"), &output)?;
    let rows = parse_rows(&output)?;
    if rows.is_empty() {
        bail!("bench_redis printed no result table (see target/bench/redis.log)");
    }
    let replay = output
        .lines()
        .find(|l| l.starts_with("replay: "))
        .map(|l| l.trim_start_matches("replay: ").to_owned());
    let record = output.lines().find(|l| l.starts_with("session value: "));
    let trips = round_trips(&output);
    let memory = memory_per_session(&output);

    let cell = |c: Option<Cell>| {
        c.map_or_else(
            || "n/a".to_owned(),
            |c| {
                format!(
                    "{} ({} / {})",
                    rate(c.ops_per_sec),
                    latency(c.p50_us),
                    latency(c.p99_us)
                )
            },
        )
    };
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.concurrency.to_string(),
                cell(r.get),
                cell(r.script),
                cell(Some(r.touch)),
                r.script.map_or_else(
                    || "n/a".into(),
                    |s| percent(r.touch.ops_per_sec, s.ops_per_sec),
                ),
                r.get.map_or_else(
                    || "n/a".into(),
                    |g| percent(r.touch.ops_per_sec, g.ops_per_sec),
                ),
                cell(Some(r.create)),
            ]
        })
        .collect();
    let mut body = format!(
        "`bench_redis --ops {ops} --concurrency 1,16,64 --memory-sessions {memory_sessions}` \
         against a fresh `redis-server` started for this run (no persistence, loopback). Each \
         cell is ops/s (p50 / p99). `redis-benchmark` runs the same number of requests with as \
         many connections as the concurrency; Tessera runs that many tasks over its pool of 4 \
         connections.\n\n"
    );
    body.push_str(&table(
        &[
            "concurrency",
            "redis-benchmark GET",
            "redis-benchmark GETRANGE of the session (same call)",
            "Tessera get-and-touch",
            "vs same call",
            "vs GET",
            "Tessera create",
        ],
        &table_rows,
    ));
    if let Some(replay) = &replay {
        let _ = write!(
            body,
            "\nThe same-call baseline replays exactly what get-and-touch sends:\n\n```text\n{replay}\n```\n"
        );
    }
    if let Some(record) = record {
        let _ = write!(body, "\n{record}.\n");
    }
    if let Some((touch, create)) = trips {
        let _ = write!(
            body,
            "\nRound trips per operation (`INFO commandstats` over operations: GETRANGE and GET \
             calls for get-and-touch, each due touch adding one script call and the GET inside it; \
             EVALSHA + EVAL calls for create): get-and-touch {touch:.2}, create {create:.2}.\n"
        );
    }
    if let Some(line) = output.lines().find(|l| l.starts_with("memory: ")) {
        let _ = write!(body, "\nRedis {line}\n");
    }
    body.push_str(
        "\nWhat limits these: a get-and-touch is one plain GET (a touch is written once per \
         touch window, 60 s by default, so none falls due in this run's few seconds) and a \
         create is one Lua script on Redis's single command thread; at concurrency 64 the \
         Redis thread and this 2-core machine, shared by client and server, are the \
         bottleneck.\n",
    );
    bench.report.section("redis", "Redis store", body);

    if let Some(top) = rows.iter().max_by_key(|r| r.concurrency) {
        let c = top.concurrency;
        if let Some(script) = top.script {
            bench.report.headline(Headline {
                area: "Redis store".into(),
                what: format!("get-and-touch, concurrency {c}"),
                value: format!(
                    "{}/s, p99 {}",
                    rate(top.touch.ops_per_sec),
                    latency(top.touch.p99_us)
                ),
                baseline: format!(
                    "redis-benchmark, the same GETRANGE {}/s",
                    rate(script.ops_per_sec)
                ),
                ratio: percent(top.touch.ops_per_sec, script.ops_per_sec),
                target: "≥ 80%".into(),
                met: Some(top.touch.ops_per_sec >= 0.8 * script.ops_per_sec),
            });
        }
        if let Some(get) = top.get {
            bench.report.headline(Headline {
                area: "Redis store".into(),
                what: format!("get-and-touch, concurrency {c}"),
                value: format!("{}/s", rate(top.touch.ops_per_sec)),
                baseline: format!("redis-benchmark GET {}/s", rate(get.ops_per_sec)),
                ratio: percent(top.touch.ops_per_sec, get.ops_per_sec),
                target: "≥ 50%".into(),
                met: Some(top.touch.ops_per_sec >= 0.5 * get.ops_per_sec),
            });
            bench.report.headline(Headline {
                area: "Redis store".into(),
                what: format!("create (quota), concurrency {c}"),
                value: format!(
                    "{}/s, p99 {}",
                    rate(top.create.ops_per_sec),
                    latency(top.create.p99_us)
                ),
                baseline: format!("redis-benchmark GET {}/s", rate(get.ops_per_sec)),
                ratio: percent(top.create.ops_per_sec, get.ops_per_sec),
                target: "none set".into(),
                met: None,
            });
        }
        bench.latency_chart(
            "latency-redis.svg",
            &format!("Redis latency at concurrency {c}"),
            &[
                top.get.map(|g| ("redis-benchmark GET".to_owned(), g)),
                top.script
                    .map(|s| ("redis-benchmark, the same GETRANGE".to_owned(), s)),
                Some(("Tessera get-and-touch".to_owned(), top.touch)),
                Some(("Tessera create".to_owned(), top.create)),
            ]
            .into_iter()
            .flatten()
            .map(|(name, cell)| (name, cell.p50_us, cell.p99_us))
            .collect::<Vec<_>>(),
            "redis-benchmark on the same Redis, same run",
        );
    }
    if let Some((touch, create)) = trips {
        bench.report.headline(Headline {
            area: "Redis store".into(),
            what: "round trips per get-and-touch / create".into(),
            value: format!("{touch:.2} / {create:.2}"),
            baseline: "INFO commandstats".into(),
            ratio: "—".into(),
            target: "exactly 1 / 1".into(),
            met: Some((touch - 1.0).abs() < 0.01 && (create - 1.0).abs() < 0.01),
        });
    }
    if let Some(bytes) = memory {
        bench.redis_bytes_per_session = Some((bytes, memory_sessions));
    }

    let series = |name: &str, pick: &dyn Fn(&Row) -> Option<Cell>| Series {
        name: name.to_owned(),
        values: rows
            .iter()
            .map(|r| pick(r).map(|c| c.ops_per_sec))
            .collect(),
    };
    let chart = Chart {
        file: "throughput-redis.svg".to_owned(),
        title: "Redis: throughput against concurrency".to_owned(),
        kind: Kind::Lines,
        x_label: "concurrency (tasks / connections)".to_owned(),
        y_label: "operations per second".to_owned(),
        categories: rows.iter().map(|r| r.concurrency.to_string()).collect(),
        series: vec![
            series("redis-benchmark GET (baseline)", &|r| r.get),
            series("redis-benchmark, the same GETRANGE (baseline)", &|r| {
                r.script
            }),
            series("Tessera get-and-touch", &|r| Some(r.touch)),
            series("Tessera create", &|r| Some(r.create)),
        ],
        baseline:
            "redis-benchmark GET of a value and of the session's own key, same Redis, same run"
                .to_owned(),
    };
    bench.report.chart("redis", chart);
    Ok(())
}

/// The rows of bench_redis's table: `| c | GET | EVALSHA | touch | % | % | create |`.
fn parse_rows(output: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for line in output.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let Ok(concurrency) = cells[0].parse() else {
            continue;
        };
        if cells.len() < 7 {
            bail!("unexpected bench_redis row {line:?}");
        }
        rows.push(Row {
            concurrency,
            get: parse_cell(cells[1]),
            script: parse_cell(cells[2]),
            touch: parse_cell(cells[3]).with_context(|| format!("bad cell in {line:?}"))?,
            create: parse_cell(cells[6]).with_context(|| format!("bad cell in {line:?}"))?,
        });
    }
    Ok(rows)
}

/// `12345 (0.050 / 0.120)`: ops/s, p50 and p99 in milliseconds.
fn parse_cell(cell: &str) -> Option<Cell> {
    let (ops, rest) = cell.split_once('(')?;
    let (p50, p99) = rest.trim_end_matches(')').split_once('/')?;
    Some(Cell {
        ops_per_sec: ops.trim().parse().ok()?,
        p50_us: p50.trim().parse::<f64>().ok()? * 1000.0,
        p99_us: p99.trim().parse::<f64>().ok()? * 1000.0,
    })
}

/// `round trips per operation (...): get-and-touch 1.00, create 1.00`.
fn round_trips(output: &str) -> Option<(f64, f64)> {
    let line = output
        .lines()
        .find(|l| l.starts_with("round trips per operation"))?;
    let number_after = |label: &str| -> Option<f64> {
        let at = line.find(label)? + label.len();
        line[at..]
            .trim_start()
            .split([',', ' '])
            .next()?
            .parse()
            .ok()
    };
    Some((number_after("get-and-touch")?, number_after("create")?))
}

/// `memory: 612 bytes per session over ...`.
fn memory_per_session(output: &str) -> Option<f64> {
    let line = output.lines().find(|l| l.starts_with("memory: "))?;
    line.trim_start_matches("memory: ")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
replay: redis-benchmark -h 127.0.0.1 -p 1 -n 10 -c <C> EVALSHA abc 1 k 1 2
| concurrency | redis-benchmark GET ops/s (p50 / p99 ms) | redis-benchmark EVALSHA | Tessera get-and-touch | vs EVALSHA | vs GET | Tessera create |
|---|---|---|---|---|---|---|
| 1 | 20000 (0.047 / 0.079) | 18000 (0.050 / 0.090) | 9000 (0.100 / 0.200) | 50% | 45% | 7000 (0.130 / 0.300) |
| 64 | - | - | 50000 (1.000 / 2.500) | - | - | 30000 (2.000 / 4.000) |

round trips per operation (INFO commandstats, EVALSHA + EVAL / ops): get-and-touch 1.00, create 1.02
memory: 612 bytes per session over 100 sessions (data payload 200 B)
";

    #[test]
    fn bench_redis_output_is_read() -> Result<()> {
        let rows = parse_rows(OUTPUT)?;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].concurrency, 1);
        let get = rows[0].get.context("get")?;
        assert!((get.ops_per_sec - 20_000.0).abs() < 1e-9 && (get.p99_us - 79.0).abs() < 1e-9);
        assert_eq!(rows[1].get, None);
        assert!((rows[1].create.p50_us - 2000.0).abs() < 1e-9);
        assert_eq!(round_trips(OUTPUT), Some((1.0, 1.02)));
        assert_eq!(memory_per_session(OUTPUT), Some(612.0));
        Ok(())
    }
}

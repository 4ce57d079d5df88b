//! Throughput and latency of the local folder store, beside raw file-system
//! baselines measured in the same run.
//!
//! ```text
//! cargo run --release -p tessera-store-local --example bench_local -- [sessions] [read ops] [write ops]
//! ```
//!
//! Populates `sessions` sessions (one subject each), then measures, one
//! operation at a time: get-and-touch, get (skip touch), update, list by
//! subject, create and delete; and as baselines a raw `std::fs::read` of a
//! session file and a raw temp-file + fsync + rename + dir-fsync write.
//! Prints a markdown table, then each row again as a `BENCH {json}` line
//! for `cargo xtask bench`.
// Printing is the job; statistics convert counts to and from f64 on purpose.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::too_many_lines,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    missing_docs
)]

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tessera_core::{OnQuotaExhaustion, Subject, Timestamp};
use tessera_store::testkit::{policy, session, session_ref};
use tessera_store::{Clock, SessionRef, SessionStore, SystemClock, Touch};
use tessera_store_local::{LocalConfig, LocalStore};

struct Row {
    name: &'static str,
    ops_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
}

fn summarise(name: &'static str, mut micros: Vec<f64>, elapsed: f64) -> Row {
    micros.sort_by(f64::total_cmp);
    let pick = |q: f64| micros[((micros.len() as f64 - 1.0) * q) as usize];
    Row {
        name,
        ops_per_sec: micros.len() as f64 / elapsed,
        p50_us: pick(0.50),
        p99_us: pick(0.99),
    }
}

async fn measure<F, Fut>(name: &'static str, n: usize, mut op: F) -> Row
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut micros = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        op(i).await;
        micros.push(t.elapsed().as_secs_f64() * 1e6);
    }
    summarise(name, micros, start.elapsed().as_secs_f64())
}

fn raw_atomic_write(dir: &Path, i: usize, bytes: &[u8]) {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp")
        .tempfile_in(dir)
        .unwrap();
    tmp.write_all(bytes).unwrap();
    tmp.as_file().sync_data().unwrap();
    tmp.persist(dir.join(format!("raw-{i}"))).unwrap();
    std::fs::File::open(dir).unwrap().sync_all().unwrap();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let sessions = args.first().copied().unwrap_or(10_000);
    let reads = args.get(1).copied().unwrap_or(100_000);
    let writes = args.get(2).copied().unwrap_or(1_000);

    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(
        LocalStore::open(&LocalConfig::new(tmp.path().join("store")))
            .await
            .unwrap(),
    );
    let now = Timestamp::from_secs(SystemClock.now().as_secs());
    let p = policy(5, OnQuotaExhaustion::CloseOldSession);

    eprintln!(
        "populating {sessions} sessions in {}",
        store.path().display()
    );
    let started = Instant::now();
    let mut ids: Vec<SessionRef> = Vec::with_capacity(sessions);
    for chunk in (0..sessions).collect::<Vec<_>>().chunks(64) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let who = format!("user-{i}");
                    let id = session_ref(&who);
                    store
                        .create(&id, &session(&who, "web", now, 600, 600, 60), &p, now)
                        .await
                        .unwrap();
                    id
                })
            })
            .collect();
        for t in tasks {
            ids.push(t.await.unwrap());
        }
    }
    eprintln!("populated in {:.1} s", started.elapsed().as_secs_f64());

    // Reads happen 10 s later: inside the 60 s touch window, as in steady
    // traffic where most reads of a session find a recent persisted touch.
    let later = now.plus_millis(10_000);
    let pick = |i: usize| ids[(i.wrapping_mul(7919)) % ids.len()];
    let mut rows = Vec::new();

    let sample = store.path().join("sessions");
    let files: Vec<_> = std::fs::read_dir(&sample)
        .unwrap()
        .flat_map(|shard| std::fs::read_dir(shard.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
        .collect();
    rows.push(
        measure("baseline: std::fs::read of a session file", reads, |i| {
            let path = files[(i * 7919) % files.len()].clone();
            async move {
                std::hint::black_box(std::fs::read(path).unwrap());
            }
        })
        .await,
    );
    rows.push(
        measure("get_and_touch", reads, |i| {
            let store = Arc::clone(&store);
            let id = pick(i);
            async move {
                store
                    .get_and_touch(&id, later, Touch::Yes)
                    .await
                    .unwrap()
                    .unwrap();
            }
        })
        .await,
    );
    rows.push(
        measure("get (skip touch)", reads, |i| {
            let store = Arc::clone(&store);
            let id = pick(i);
            async move {
                store.get(&id, later).await.unwrap().unwrap();
            }
        })
        .await,
    );
    rows.push(
        measure("list_by_subject", reads / 4, |i| {
            let store = Arc::clone(&store);
            let subject = Subject::new(format!("user-{}", (i * 7919) % sessions)).unwrap();
            async move {
                assert_eq!(
                    store
                        .list_by_subject(&subject, None, later)
                        .await
                        .unwrap()
                        .len(),
                    1
                );
            }
        })
        .await,
    );
    let raw_dir = tmp.path().join("raw");
    std::fs::create_dir(&raw_dir).unwrap();
    let body = vec![b'x'; 420];
    rows.push(
        measure("baseline: raw temp+fsync+rename+dir fsync", writes, |i| {
            raw_atomic_write(&raw_dir, i, &body);
            async {}
        })
        .await,
    );
    rows.push(
        measure("update", writes, |i| {
            let store = Arc::clone(&store);
            let id = ids[i % ids.len()];
            async move {
                let mut s = store.get(&id, later).await.unwrap().unwrap();
                s.data.insert("n".into(), serde_json::Value::from(i));
                store.update(&id, &s, later).await.unwrap();
            }
        })
        .await,
    );
    rows.push(
        measure("create", writes, |i| {
            let store = Arc::clone(&store);
            async move {
                let who = format!("new-{i}");
                let s = session(&who, "web", later, 600, 600, 60);
                store
                    .create(&session_ref(&who), &s, &p, later)
                    .await
                    .unwrap();
            }
        })
        .await,
    );
    rows.push(
        measure("delete", writes, |i| {
            let store = Arc::clone(&store);
            let id = ids[ids.len() - 1 - (i % ids.len())];
            async move {
                store.delete(&id, later).await.unwrap();
            }
        })
        .await,
    );

    println!("\nLocal store, {sessions} stored sessions, one operation at a time\n");
    println!("| operation | ops/s | p50 µs | p99 µs |");
    println!("| --- | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {:.0} | {:.1} | {:.1} |",
            r.name, r.ops_per_sec, r.p50_us, r.p99_us
        );
    }
    // The same rows as JSON lines, for `cargo xtask bench`.
    for r in &rows {
        println!(
            "BENCH {}",
            serde_json::json!({
                "op": r.name,
                "sessions": sessions,
                "ops_per_sec": r.ops_per_sec,
                "p50_us": r.p50_us,
                "p99_us": r.p99_us,
            })
        );
    }
    let ratio = |a: &str, b: &str| {
        let f = |n: &str| rows.iter().find(|r| r.name == n).unwrap().ops_per_sec;
        f(a) / f(b)
    };
    println!(
        "\nget_and_touch / raw read: {:.2}; create / raw atomic write: {:.2}",
        ratio("get_and_touch", "baseline: std::fs::read of a session file"),
        ratio("create", "baseline: raw temp+fsync+rename+dir fsync"),
    );
}

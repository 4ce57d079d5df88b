//! A quick load check of the API, in one process: the server on the memory
//! store and a client at fixed concurrency on loopback. It measures
//! `GET /sessions` (with a touch), `POST /sessions` and the trivial
//! `/healthz` in the same run, so the ratio shows what the API adds on top
//! of the HTTP stack. Client and server share the machine, so absolute
//! numbers understate a real deployment; the ratio is the point.
//!
//! ```text
//! cargo run --release -p tessera-server --example api_load -- [seconds] [concurrency]
//! ```

#![expect(clippy::print_stdout, reason = "the report is the output")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, Method};
use serde_json::{Value, json};
use tessera_core::{Policy, Quota};
use tessera_crypto::{MasterKeys, SafePassword, TokenHash, TokenVerifier};
use tessera_server::api::{self, ApiLimits, ApiState, BASE_PATH};
use tessera_store::{MemoryStore, Sessions, SessionsConfig, SystemClock, SystemRandom};

const TOKEN: &str = "loadTestTokenThatIsLongEnough0123456789abcd";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    let concurrency: usize = args.next().map_or(Ok(64), |a| a.parse())?;

    let keys = MasterKeys::derive(&SafePassword::new("load-test-Pw7!kQ2#zX9@")?, &[]);
    let policy = Policy {
        quota_per_subject: Quota::new("quota", 25)?,
        ..Policy::default()
    };
    let sessions = Sessions::new(
        Arc::new(MemoryStore::new()),
        SessionsConfig {
            policy,
            ..SessionsConfig::default()
        },
        &keys,
        Arc::new(SystemClock),
        Arc::new(SystemRandom::new()),
    );
    let router = api::router(ApiState {
        sessions: Arc::new(sessions),
        tokens: Arc::new(TokenVerifier::new([("primary".to_owned(), TokenHash::of(TOKEN))]).into()),
        limits: ApiLimits::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(api::serve_with_shutdown(
        listener,
        router,
        std::future::pending(),
    ));

    let client = Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let mut sids = Vec::new();
    for i in 0..concurrency {
        let created: Value = client
            .post(format!("{base}{BASE_PATH}/sessions"))
            .bearer_auth(TOKEN)
            .json(&json!({"sub": format!("user-{i}")}))
            .send()
            .await?
            .json()
            .await?;
        sids.push(created["sid"].as_str().unwrap_or_default().to_owned());
    }

    let duration = Duration::from_secs(seconds);
    println!("{seconds} s per case, concurrency {concurrency}\n");
    println!("| case | requests/s | p50 ms | p99 ms |\n| --- | --- | --- | --- |");
    let cases: [(&str, Case); 3] = [
        ("GET /healthz", Case::Health),
        ("GET /sessions (touch)", Case::Get),
        ("POST /sessions", Case::Create),
    ];
    for (name, case) in cases {
        let report = run(&client, &base, &sids, case, concurrency, duration).await;
        println!(
            "| {name} | {:.0} | {:.3} | {:.3} |",
            report.rate, report.p50_ms, report.p99_ms
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Case {
    Health,
    Get,
    Create,
}

struct Report {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn run(
    client: &Client,
    base: &str,
    sids: &[String],
    case: Case,
    concurrency: usize,
    duration: Duration,
) -> Report {
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let client = client.clone();
            let base = base.to_owned();
            let sid = sids[w].clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while started.elapsed() < duration {
                    let request = match case {
                        Case::Health => client.get(format!("{base}/healthz")),
                        Case::Get => client
                            .request(Method::GET, format!("{base}{BASE_PATH}/sessions"))
                            .bearer_auth(TOKEN)
                            .header("SID", &sid),
                        Case::Create => client
                            .post(format!("{base}{BASE_PATH}/sessions"))
                            .bearer_auth(TOKEN)
                            .json(&json!({"sub": format!("load-{w}-{n}")})),
                    };
                    let sent = Instant::now();
                    let ok = request.send().await.is_ok_and(|r| r.status().is_success());
                    assert!(ok, "request failed");
                    latencies.push(sent.elapsed());
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap_or_default());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pick = |q: f64| {
        // Truncation is the intent: the index of the q-quantile.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "an index into a sorted sample"
        )]
        let i = ((all.len().saturating_sub(1)) as f64 * q) as usize;
        all.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    #[expect(clippy::cast_precision_loss, reason = "a request count")]
    let rate = all.len() as f64 / elapsed;
    Report {
        rate,
        p50_ms: pick(0.50),
        p99_ms: pick(0.99),
    }
}

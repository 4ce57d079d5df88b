//! Redis killed and restarted under load, through a real `tessera serve`.
//!
//! The test starts its own `redis-server` (AOF on, `fsync` before every
//! answer) and a `tessera serve` on it, runs eight client tasks creating
//! sessions and reading-and-touching acknowledged ones, kills Redis with
//! SIGKILL in the middle, and restarts it on the same port and folder.
//! It checks that
//!
//! * during the outage every request is answered `503` with `Retry-After`,
//!   and no request at any time waits longer than three times the
//!   configured command timeout (a bound on hanging, not a benchmark);
//! * no request is ever answered `401` or `404` (an outage is not a
//!   logout), nor anything but `200`, `201` and `503`;
//! * the same server process recovers by itself once Redis is back;
//! * every session whose create was acknowledged is still there, with its
//!   subject and data.

mod chaos_support;

use std::time::{Duration, Instant};

use chaos_support::load::{self, Load, Op};
use chaos_support::{
    Api, PrivateRedis, SAFE_PASSWORD, Tessera, report, session_store_block, unique,
};
use reqwest::StatusCode;

const COMMAND_TIMEOUT_MS: u64 = 1_000;
const CLIENTS: u32 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = PrivateRedis::start(&dir.path().join("redis"));
    let config = format!(
        "tokenizer:\n  type: redis\n  safe_password: {SAFE_PASSWORD}\n  url: {url}\n  key_prefix: '{prefix}:'\n  command_timeout_ms: {COMMAND_TIMEOUT_MS}\n  connect_timeout_ms: {COMMAND_TIMEOUT_MS}\n{store}",
        url = redis.url(),
        prefix = unique("redis"),
        store = session_store_block(25, "DENY_LOGIN"),
    );
    let mut server = Tessera::start(dir.path(), "tessera", &config);
    let pid = server.pid();
    let api = Api::new(Duration::from_secs(30));
    let load = Load::start(&api, &server.url, CLIENTS, "redis-outage");

    load.wait_until(
        "50 sessions acknowledged",
        Duration::from_secs(30),
        |_, acked| acked.len() >= 50,
    )
    .await;
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| redis.kill());
    // Long enough for requests to fail on the dropped connection, then in
    // the client's reconnect loop.
    tokio::time::sleep(Duration::from_millis(3 * COMMAND_TIMEOUT_MS)).await;
    let ready = api.ready(&server.url).await.expect("readyz answers");
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");
    // The scrape answers during the outage, and says the backend is down:
    // what an alert on `tessera_backend_up` sees where `up` stays 1.
    let page = scrape(&server.url).await;
    assert!(page.contains("tessera_backend_up 0"), "{page}");
    assert!(
        metric_value(&page, "tessera_readiness_failures_total") >= 1.0,
        "{page}"
    );

    let restarted_at = Instant::now();
    tokio::task::block_in_place(|| redis.restart());
    load.wait_until(
        "a create sent after the restart is acknowledged (the server recovers by itself)",
        Duration::from_secs(30),
        |outcomes, _| {
            outcomes.iter().any(|o| {
                o.op == Op::Create
                    && o.started >= restarted_at
                    && o.status() == Some(StatusCode::CREATED)
            })
        },
    )
    .await;
    let recovered_in = restarted_at.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (outcomes, acked) = load.stop().await;

    let slowest = load::assert_bounded(&outcomes, Duration::from_millis(3 * COMMAND_TIMEOUT_MS));
    for o in &outcomes {
        let status = o.status().expect("answered");
        assert!(
            [
                StatusCode::OK,
                StatusCode::CREATED,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(&status),
            "a {:?} answered {:?}",
            o.op,
            o.answer
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let a = o.answer.as_ref().expect("answered");
            assert!(a.retry_after, "{a:?}");
        }
    }
    let (during, slowest_during) =
        load::assert_unavailable_between(&outcomes, killed_at, restarted_at);
    assert!(
        during.len() >= usize::try_from(CLIENTS).unwrap(),
        "only {} requests were answered during the outage",
        during.len()
    );
    assert!(server.is_running(), "{}", server.log_tail());
    assert_eq!(server.pid(), pid);
    let ready = api.ready(&server.url).await.expect("readyz answers");
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    let page = scrape(&server.url).await;
    assert!(page.contains("tessera_backend_up 1"), "{page}");

    load::assert_all_readable(&api, &server.url, &acked).await;
    report(&format!(
        "redis outage: {} requests {:?}; {} answered inside the outage, all 503, slowest {:?}; \
         slowest of all {:?} (bound {:?}); recovered {:?} after the restart; \
         {} acknowledged sessions all readable",
        outcomes.len(),
        load::by_status(&outcomes),
        during.len(),
        slowest_during,
        slowest,
        Duration::from_millis(3 * COMMAND_TIMEOUT_MS),
        recovered_in,
        acked.len(),
    ));
}

/// `GET /metrics` (no metrics token configured): the page, which must be
/// a `200` whatever the backend does.
async fn scrape(url: &str) -> String {
    let response = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of an unlabelled metric on a Prometheus page (0 if absent).
fn metric_value(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

//! The DynamoDB emulator stopped and started under load, through a real
//! `tessera serve`.
//!
//! Each test starts its own `moto_server`, creates the table with `tessera
//! dynamodb create-table`, starts a `tessera serve` on it and runs eight
//! client tasks creating sessions and reading-and-touching acknowledged
//! ones. Two ways for the endpoint to go away:
//!
//! * **paused** (SIGSTOP, then SIGCONT): connections are accepted and
//!   nothing answers, like an unreachable or overloaded endpoint. The
//!   emulator keeps its tables, so every acknowledged session must still be
//!   there afterwards, with its subject and data.
//! * **killed** (SIGKILL) and started again on the same port. moto keeps
//!   its tables in memory only, so a killed emulator comes back empty: the
//!   sessions acknowledged before the kill are gone with it, which says
//!   nothing about Tessera (a real DynamoDB table is durable), so their
//!   survival is not checked here; the pause above is the durability
//!   check. What is checked: `503` during the outage; while the new
//!   emulator has no table, the documented `500 backend_error` (the
//!   backend answers, but is misconfigured), never `404`; and once the
//!   table is created again, the same server process works, sessions
//!   created from then on are all readable.
//!
//! In both, no request at any time waits longer than three times the
//! store's configured budget per operation (`max_attempts` x
//! `attempt_timeout_ms`), no request is ever `401` or `404`.

mod chaos_support;

use std::path::Path;
use std::time::{Duration, Instant};

use chaos_support::load::{self, Load, Op, Outcome};
use chaos_support::{
    Api, PrivateMoto, SAFE_PASSWORD, Tessera, report, run_admin, session_store_block, unique,
};
use reqwest::StatusCode;

const MAX_ATTEMPTS: u64 = 2;
const ATTEMPT_TIMEOUT_MS: u64 = 1_000;
const CLIENTS: u32 = 8;

/// Three times the store's budget per operation: a bound on hanging.
fn bound() -> Duration {
    Duration::from_millis(3 * MAX_ATTEMPTS * ATTEMPT_TIMEOUT_MS)
}

fn config(moto: &PrivateMoto, table: &str) -> String {
    format!(
        "tokenizer:\n  type: dynamodb\n  safe_password: {SAFE_PASSWORD}\n  table: {table}\n  aws_region_name: us-east-1\n  aws_access_key: testing\n  aws_secret_key: testing\n  endpoint_url: {endpoint}\n  max_attempts: {MAX_ATTEMPTS}\n  attempt_timeout_ms: {ATTEMPT_TIMEOUT_MS}\n  connect_timeout_ms: 500\n{store}",
        endpoint = moto.endpoint(),
        store = session_store_block(25, "DENY_LOGIN"),
    )
}

fn create_table(dir: &Path, config: &str) {
    run_admin(dir, "create-table", config, &["dynamodb", "create-table"]);
}

/// Checks what holds at any time: an answer within the bound, never 401 or
/// 404, and `Retry-After` on every 503. `allowed` says which other
/// statuses besides 200, 201 and 503 a request may get.
fn assert_never_logged_out(outcomes: &[Outcome], allowed: impl Fn(&Outcome) -> bool) -> Duration {
    let slowest = load::assert_bounded(outcomes, bound());
    for o in outcomes {
        let a = o.answer.as_ref().expect("answered");
        match a.status {
            StatusCode::OK | StatusCode::CREATED => {}
            StatusCode::SERVICE_UNAVAILABLE => assert!(a.retry_after, "{a:?}"),
            _ if allowed(o) => {}
            _ => panic!("a {:?} answered {a:?}", o.op),
        }
    }
    slowest
}

async fn wait_for_recovery(load: &Load, since: Instant) -> Duration {
    load.wait_until(
        "a create sent after the endpoint came back is acknowledged",
        Duration::from_secs(60),
        |outcomes, _| {
            outcomes.iter().any(|o| {
                o.op == Op::Create && o.started >= since && o.status() == Some(StatusCode::CREATED)
            })
        },
    )
    .await;
    since.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_paused_and_resumed_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let moto = tokio::task::block_in_place(PrivateMoto::start);
    let config = config(&moto, &unique("ddb-pause"));
    tokio::task::block_in_place(|| create_table(dir.path(), &config));
    let mut server = Tessera::start(dir.path(), "tessera", &config);
    let pid = server.pid();
    let api = Api::new(Duration::from_secs(60));
    let load = Load::start(&api, &server.url, CLIENTS, "ddb-pause");

    load.wait_until(
        "30 sessions acknowledged",
        Duration::from_secs(60),
        |_, acked| acked.len() >= 30,
    )
    .await;
    let paused_at = Instant::now();
    moto.pause();
    // Long enough for every client to see the operation budget run out.
    tokio::time::sleep(bound()).await;
    let ready = api.ready(&server.url).await.expect("readyz answers");
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");
    let resumed_at = Instant::now();
    moto.resume();
    let recovered_in = wait_for_recovery(&load, resumed_at).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (outcomes, acked) = load.stop().await;

    let slowest = assert_never_logged_out(&outcomes, |_| false);
    let (during, slowest_during) =
        load::assert_unavailable_between(&outcomes, paused_at, resumed_at);
    assert!(
        !during.is_empty(),
        "no request was answered during the pause"
    );
    assert!(server.is_running(), "{}", server.log_tail());
    assert_eq!(server.pid(), pid);
    let ready = api.ready(&server.url).await.expect("readyz answers");
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    load::assert_all_readable(&api, &server.url, &acked).await;
    report(&format!(
        "dynamodb pause: {} requests {:?}; {} answered inside the pause, all 503, slowest {:?}; \
         slowest of all {:?} (bound {:?}); recovered {:?} after SIGCONT; \
         {} acknowledged sessions all readable",
        outcomes.len(),
        load::by_status(&outcomes),
        during.len(),
        slowest_during,
        slowest,
        bound(),
        recovered_in,
        acked.len(),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_killed_and_restarted_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut moto = tokio::task::block_in_place(PrivateMoto::start);
    let config = config(&moto, &unique("ddb-kill"));
    tokio::task::block_in_place(|| create_table(dir.path(), &config));
    let mut server = Tessera::start(dir.path(), "tessera", &config);
    let pid = server.pid();
    let api = Api::new(Duration::from_secs(60));
    let load = Load::start(&api, &server.url, CLIENTS, "ddb-kill");

    load.wait_until(
        "30 sessions acknowledged",
        Duration::from_secs(60),
        |_, acked| acked.len() >= 30,
    )
    .await;
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| moto.kill());
    // The emulator's data is gone: touches now read only sessions created
    // after this point.
    load.next_epoch();
    tokio::time::sleep(bound()).await;
    let ready = api.ready(&server.url).await.expect("readyz answers");
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");

    let restarted_at = Instant::now();
    tokio::task::block_in_place(|| moto.restart());
    // A moment with the emulator up and the table missing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let table_at = Instant::now();
    tokio::task::block_in_place(|| create_table(dir.path(), &config));
    let recovered_in = wait_for_recovery(&load, table_at).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (outcomes, acked) = load.stop().await;

    // Between the emulator's restart and the table's creation, the
    // backend answers that the table does not exist: a 500, not a 404.
    let missing_table = |o: &Outcome| {
        let a = o.answer.as_ref().expect("answered");
        a.status == StatusCode::INTERNAL_SERVER_ERROR
            && a.error.as_deref() == Some("backend_error")
            && o.ended >= restarted_at
            && o.started <= table_at + Duration::from_secs(1)
    };
    let slowest = assert_never_logged_out(&outcomes, missing_table);
    let no_table = outcomes.iter().filter(|o| missing_table(o)).count();
    let (during, slowest_during) =
        load::assert_unavailable_between(&outcomes, killed_at, restarted_at);
    assert!(
        !during.is_empty(),
        "no request was answered during the outage"
    );
    assert!(server.is_running(), "{}", server.log_tail());
    assert_eq!(server.pid(), pid);
    let ready = api.ready(&server.url).await.expect("readyz answers");
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    let after: Vec<_> = acked.iter().filter(|a| a.epoch == 1).cloned().collect();
    assert!(!after.is_empty());
    load::assert_all_readable(&api, &server.url, &after).await;
    report(&format!(
        "dynamodb kill: {} requests {:?}; {} answered inside the outage, all 503, slowest {:?}; \
         {no_table} answered 500 while the new emulator had no table; slowest of all {:?} \
         (bound {:?}); recovered {:?} after the table came back; {} sessions created before \
         the kill (lost with the emulator, not checked), {} after, all readable",
        outcomes.len(),
        load::by_status(&outcomes),
        during.len(),
        slowest_during,
        slowest,
        bound(),
        recovered_in,
        acked.len() - after.len(),
        after.len(),
    ));
}

//! The quota under attack: four `tessera serve` processes on one backend,
//! 200 concurrent logins for one subject with `quotaPerSubject: 5`, spread
//! evenly over the four servers, round after round (a fresh subject each
//! round, the same four processes throughout), for every backend (a local
//! folder shared by the four processes, standalone Redis, Redis Cluster,
//! DynamoDB) and both `onQuotaExhaustion` policies.
//!
//! After every round:
//!
//! * **Never more than 5 live sessions.** A monitor task lists the
//!   subject's sessions (`GET /sessions?subject=`) over and over, on each
//!   server in turn, while the logins run; afterwards each of the four
//!   servers lists them once more. No listing may show more than 5, and
//!   the four final listings must agree.
//! * **`DENY_LOGIN`**: exactly 5 logins get `201`, every other one `409
//!   quota_exhausted`, or `503 backend_unavailable` if the backend's
//!   bounded retry gave up under the contention (counted and reported;
//!   the store gives up only after a cancelled transaction, which wrote
//!   nothing, and the servers' request timeout is set far out of reach, so
//!   a `503` here never hides a created session). The 5 listed sessions are
//!   exactly the 5 created, and no `409` was answered before one of the
//!   5 `201`s was even sent (the quota was full, so those 5 existed).
//! * **`CLOSE_OLD_SESSION`**: every login gets `201` (or a counted `503`
//!   as above), and every closed session was the next-expiring one at its
//!   time. See [`check_close_old`] for how that is decided from outside.
//!
//! Rounds: `cargo xtask chaos` runs 50 per backend and policy, as the
//! reliability requirements ask; it sets `TESSERA_CHAOS_QUOTA_ROUNDS`.
//! CI's chaos step sets 6. Without that variable (`cargo xtask test`) each
//! test does 3, because the DynamoDB emulator applies one request at a
//! time: a round of 200 `CLOSE_OLD_SESSION` logins that all contend for
//! one subject costs it thousands of requests and 30 to 35 seconds here,
//! so 50 rounds take half an hour. After each round the subject's
//! sessions are ended, so the backend does not grow from round to round.

mod chaos_support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chaos_support::{
    Answer, Api, PrivateMoto, SAFE_PASSWORD, Tessera, report, service_env, session_store_block,
    unique,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SERVERS: usize = 4;
const LOGINS: usize = 200;
const QUOTA: usize = 5;
/// Rounds per backend and policy without `TESSERA_CHAOS_QUOTA_ROUNDS`.
const DEFAULT_ROUNDS: usize = 3;
const ROUNDS_VAR: &str = "TESSERA_CHAOS_QUOTA_ROUNDS";
/// Lifetimes are 1000, 1010, 1020, ... minutes: ten minutes apart, so that
/// the order of expiry is the order of `max_life` whatever the order of
/// creation within a round (a round takes seconds, not ten minutes).
const BASE_LIFE_MIN: i64 = 1_000;
const LIFE_STEP_MIN: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Local,
    Redis,
    RedisCluster,
    DynamoDb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnExhaustion {
    DenyLogin,
    CloseOldSession,
}

impl OnExhaustion {
    fn name(self) -> &'static str {
        match self {
            Self::DenyLogin => "DENY_LOGIN",
            Self::CloseOldSession => "CLOSE_OLD_SESSION",
        }
    }
}

/// The `tokenizer:` block of `backend`, shared by the four servers.
/// DynamoDB is an emulator of the test's own: the bursts of 200 logins
/// would otherwise queue every other test's requests behind them on the
/// shared one, which applies one request at a time.
fn tokenizer_block(backend: Backend, dir: &Path, moto: Option<&PrivateMoto>) -> String {
    let common = format!("tokenizer:\n  safe_password: {SAFE_PASSWORD}\n");
    let specific = match backend {
        Backend::Local => format!(
            "  type: local\n  path: {}\n",
            dir.join("shared-store").display()
        ),
        Backend::Redis => format!(
            "  type: redis\n  url: {}\n  key_prefix: '{}:'\n",
            service_env("TESSERA_TEST_REDIS_URL"),
            unique("quota")
        ),
        Backend::RedisCluster => {
            let nodes: Vec<String> = service_env("TESSERA_TEST_REDIS_CLUSTER_URLS")
                .split(',')
                .map(|url| format!("    - {}\n", url.trim()))
                .collect();
            format!(
                "  type: redis\n  cluster_nodes:\n{}  key_prefix: '{}:'\n",
                nodes.concat(),
                unique("quota")
            )
        }
        // An attempt timeout far out of reach: a timed-out attempt whose
        // write still lands would make a 503 that hides a session.
        Backend::DynamoDb => format!(
            "  type: dynamodb\n  table: {}\n  aws_region_name: us-east-1\n  aws_access_key: testing\n  aws_secret_key: testing\n  endpoint_url: {}\n  attempt_timeout_ms: 600000\n",
            unique("quota"),
            moto.expect("DynamoDB has an emulator").endpoint()
        ),
    };
    common + &specific
}

/// The four servers of one backend and policy, and the directory holding
/// their configuration, logs (and, for the local store, the shared folder).
struct Fleet {
    servers: Vec<Tessera>,
    urls: Vec<String>,
    moto: Option<PrivateMoto>,
    dir: tempfile::TempDir,
}

impl Fleet {
    fn start(backend: Backend, on: OnExhaustion) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let moto = (backend == Backend::DynamoDb).then(PrivateMoto::start);
        let config = format!(
            "{}{}server:\n  request_timeout_ms: 600000\n",
            tokenizer_block(backend, dir.path(), moto.as_ref()),
            session_store_block(u32::try_from(QUOTA).unwrap(), on.name())
        );
        if backend == Backend::DynamoDb {
            chaos_support::run_admin(dir.path(), "setup", &config, &["dynamodb", "create-table"]);
        }
        let servers: Vec<Tessera> = (0..SERVERS)
            .map(|n| Tessera::start(dir.path(), &format!("tessera-{n}"), &config))
            .collect();
        let urls = servers.iter().map(|s| s.url.clone()).collect();
        Self {
            servers,
            urls,
            moto,
            dir,
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        // The servers first, so their logs are complete.
        self.servers.clear();
        self.moto = None;
        if std::thread::panicking() {
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep();
            report(&format!("the servers' logs are kept in {}", kept.display()));
        }
    }
}

/// One login of a round and its answer.
#[derive(Debug, Clone)]
struct Login {
    server: usize,
    max_life: i64,
    started: Instant,
    ended: Instant,
    answer: Answer,
}

impl Login {
    fn id(&self) -> &str {
        self.answer.body["id"].as_str().expect("a 201 has an id")
    }

    /// When the session ends, in ms since the epoch, from the answer: its
    /// creation time (whole seconds) plus `max_life` (the other limits are
    /// unlimited). Exact to a second, and lifetimes are ten minutes apart.
    fn expiry_ms(&self) -> i64 {
        let created = self.answer.body["session"]["creation_time"]
            .as_i64()
            .expect("a creation time");
        created * 1_000 + self.max_life * 60_000
    }

    fn closed(&self) -> Vec<String> {
        self.answer.body["closed"]
            .as_array()
            .expect("a 201 lists what it closed")
            .iter()
            .map(|c| c.as_str().expect("an id").to_owned())
            .collect()
    }
}

/// What one round saw.
#[derive(Debug, Default)]
struct RoundReport {
    created: usize,
    denied: usize,
    unavailable: usize,
    closed: usize,
    max_live_seen: usize,
    listings: usize,
}

/// The `max_life` rank of each login: a permutation of `0..LOGINS` that
/// changes from round to round, so that expiry order is unrelated to
/// which server a login goes to or when its task starts (and some rounds
/// have it ascending or descending with the start order).
fn ranks(round: usize) -> Vec<usize> {
    // Odd and not a multiple of 5: coprime with 200.
    const STEPS: [usize; 8] = [1, 199, 7, 13, 77, 101, 143, 191];
    let step = STEPS[round % STEPS.len()];
    let offset = (round * 37) % LOGINS;
    (0..LOGINS).map(|i| (i * step + offset) % LOGINS).collect()
}

async fn list(api: &Api, server: &str, subject: &str) -> Vec<Value> {
    let answer = api
        .call(
            server,
            Method::GET,
            &format!("/sessions?subject={subject}"),
            None,
            None,
        )
        .await
        .expect("a listing answers");
    assert_eq!(answer.status, StatusCode::OK, "listing: {answer:?}");
    answer.body.as_array().expect("a list").clone()
}

/// What one round observed.
struct Observed {
    subject: String,
    /// The logins, in the order they were sent.
    logins: Vec<Login>,
    /// The largest listing seen, during the round or after it.
    most: usize,
    listings: usize,
    /// The ids listed after the round (by all four servers alike).
    listed: BTreeSet<String>,
}

/// Runs one round: 200 concurrent logins for a fresh subject while a
/// monitor lists the subject's sessions, then the final listings.
async fn round(api: &Api, fleet: &Fleet, round: usize, label: &str) -> Observed {
    let subject = unique(&format!("{label}-r{round}"));
    let done = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (api, urls, subject, done) = (
            api.clone(),
            fleet.urls.clone(),
            subject.clone(),
            Arc::clone(&done),
        );
        tokio::spawn(async move {
            let (mut most, mut listings) = (0, 0);
            while !done.load(Ordering::SeqCst) {
                let asked = Instant::now();
                let seen = list(&api, &urls[listings % SERVERS], &subject).await;
                most = most.max(seen.len());
                listings += 1;
                // Paced to a fraction of the backend's time, so that the
                // watching does not slow down what it watches much.
                let pause = (asked.elapsed() * 3)
                    .clamp(Duration::from_millis(5), Duration::from_millis(250));
                tokio::time::sleep(pause).await;
            }
            (most, listings)
        })
    };
    let ranks = ranks(round);
    let logins = (0..LOGINS).map(|i| {
        let api = api.clone();
        let server = i % SERVERS;
        let url = fleet.urls[server].clone();
        let max_life =
            BASE_LIFE_MIN + LIFE_STEP_MIN * i64::try_from(ranks[i]).expect("a small number");
        let body = json!({"sub": subject, "max_life": max_life, "auth_life": -1, "max_idle": -1});
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = api
                .call(&url, Method::POST, "/sessions", None, Some(&body))
                .await
                .unwrap_or_else(|e| panic!("a login got no answer: {e:?}"));
            Login {
                server,
                max_life,
                started,
                ended: Instant::now(),
                answer,
            }
        })
    });
    let logins: Vec<Login> = futures::future::join_all(logins.collect::<Vec<_>>())
        .await
        .into_iter()
        .map(|r| r.expect("a login task panicked"))
        .collect();
    done.store(true, Ordering::SeqCst);
    let (mut most, listings) = monitor.await.expect("the monitor panicked");

    let mut finals = Vec::new();
    for url in &fleet.urls {
        let seen = list(api, url, &subject).await;
        most = most.max(seen.len());
        let ids: BTreeSet<String> = seen
            .iter()
            .map(|s| s["id"].as_str().expect("an id").to_owned())
            .collect();
        finals.push(ids);
    }
    assert!(
        finals.windows(2).all(|w| w[0] == w[1]),
        "the servers list different sessions: {finals:?}"
    );
    let listed = finals.pop().expect("four listings");
    Observed {
        subject,
        logins,
        most,
        listings: listings + SERVERS,
        listed,
    }
}

/// Ends the round's sessions, so the backend does not grow from round to
/// round (the emulator copies a whole table for every transaction).
async fn clean_up(api: &Api, server: &str, observed: &Observed) {
    let answer = api
        .call(
            server,
            Method::DELETE,
            &format!("/sessions?subject={}", observed.subject),
            None,
            None,
        )
        .await
        .expect("an answer");
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(
        answer.body["removed"],
        observed.listed.len(),
        "the sessions removed are the ones listed: {answer:?}"
    );
}

/// `DENY_LOGIN`: exactly 5 admitted, the rest refused (or given up on),
/// and the admitted ones are the ones listed.
fn check_deny(logins: &[Login], listed: &BTreeSet<String>) -> RoundReport {
    let mut report = RoundReport::default();
    for l in logins {
        match (l.answer.status, l.answer.error.as_deref()) {
            (StatusCode::CREATED, _) => report.created += 1,
            (StatusCode::CONFLICT, Some("quota_exhausted")) => report.denied += 1,
            (StatusCode::SERVICE_UNAVAILABLE, Some("backend_unavailable")) => {
                report.unavailable += 1;
            }
            _ => panic!("a login to server {} answered {:?}", l.server, l.answer),
        }
    }
    assert_eq!(report.created, QUOTA, "{report:?}");
    let admitted: Vec<&Login> = logins
        .iter()
        .filter(|l| l.answer.status == StatusCode::CREATED)
        .collect();
    let ids: BTreeSet<String> = admitted.iter().map(|l| l.id().to_owned()).collect();
    assert_eq!(&ids, listed, "the listed sessions are the admitted ones");
    for l in &admitted {
        assert!(l.closed().is_empty(), "DENY_LOGIN closed something: {l:?}");
    }
    // A refusal means the 5 were all there already: none of them can have
    // been sent after the refusal came back.
    for refused in logins
        .iter()
        .filter(|l| l.answer.status == StatusCode::CONFLICT)
    {
        for a in &admitted {
            assert!(
                refused.ended >= a.started,
                "a login was refused before an admitted one was even sent"
            );
        }
    }
    report
}

/// `CLOSE_OLD_SESSION`: was every closed session the next-expiring one at
/// its time?
///
/// From outside, the time of each close is not observable: 200 requests
/// are in flight together and the backend serializes them in an order
/// the test cannot see. What is observable is each admitted login's own
/// session (id, expiry) and the ids it closed. The check is that the
/// observations are explained by *some* serial order of the creates in
/// which each create, at its turn, closed the earliest-expiring live
/// session, and that this order does not contradict real time (a login
/// answered before another was sent comes first).
///
/// With quota 5 and nothing expiring or ended otherwise, the live count
/// only grows until it reaches 5, and then every create closes exactly
/// one. So in any serial order the first 5 creates close nothing and
/// every later one closes one, namely the minimum of the live set. That
/// makes the order unique when it exists: start from the 5 logins that
/// closed nothing, then repeatedly the next create must be the one that
/// closed the current earliest-expiring live session. If some live
/// minimum was never closed while logins remain, or a login closed
/// something that was never live, or the final live set differs from the
/// listing, no correct serial order explains what was seen.
fn check_close_old(logins: &[Login], listed: &BTreeSet<String>) -> RoundReport {
    let mut report = RoundReport::default();
    let mut admitted: HashMap<String, &Login> = HashMap::new();
    for l in logins {
        match (l.answer.status, l.answer.error.as_deref()) {
            (StatusCode::CREATED, _) => {
                report.created += 1;
                admitted.insert(l.id().to_owned(), l);
            }
            (StatusCode::SERVICE_UNAVAILABLE, Some("backend_unavailable")) => {
                report.unavailable += 1;
            }
            _ => panic!("a login to server {} answered {:?}", l.server, l.answer),
        }
    }
    let expiries: BTreeSet<i64> = admitted.values().map(|l| l.expiry_ms()).collect();
    assert_eq!(
        expiries.len(),
        admitted.len(),
        "two sessions expire together"
    );

    // closed id -> the login that closed it; and the logins that closed
    // nothing.
    let mut closed_by: HashMap<String, String> = HashMap::new();
    let mut openers = Vec::new();
    for (id, l) in &admitted {
        let closed = l.closed();
        assert!(closed.len() <= 1, "one login closed several: {closed:?}");
        match closed.first() {
            None => openers.push(id.clone()),
            Some(c) => {
                assert!(
                    admitted.contains_key(c),
                    "{id} closed {c}, which no login of this round created"
                );
                assert!(
                    closed_by.insert(c.clone(), id.clone()).is_none(),
                    "{c} was closed twice"
                );
                report.closed += 1;
            }
        }
    }
    assert_eq!(
        openers.len(),
        QUOTA.min(admitted.len()),
        "logins admitted without closing anything (more would exceed the quota)"
    );

    let key = |id: &String| (admitted[id].expiry_ms(), id.clone());
    let mut live: BTreeSet<(i64, String)> = openers.iter().map(key).collect();
    let mut order: Vec<String> = openers.clone();
    order.sort_by_key(|id| admitted[id].started);
    while let Some((_, earliest)) = live.first().cloned() {
        let Some(next) = closed_by.get(&earliest) else {
            break;
        };
        live.pop_first();
        assert!(live.insert(key(next)), "{next} admitted twice");
        order.push(next.clone());
    }
    if order.len() != admitted.len() {
        let explained: BTreeSet<&String> = order.iter().collect();
        let unexplained: BTreeMap<i64, (&String, Vec<String>)> = admitted
            .iter()
            .filter(|(id, _)| !explained.contains(id))
            .map(|(id, l)| (l.expiry_ms(), (id, l.closed())))
            .collect();
        panic!(
            "no serial order explains the closes: after {} creates the earliest-expiring \
             live session is {:?}, which no remaining login closed; live {live:?}; \
             remaining logins by expiry (with what they closed): {unexplained:?}",
            order.len(),
            live.first()
        );
    }
    let final_live: BTreeSet<String> = live.into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        &final_live, listed,
        "the listing is not what the closes leave"
    );

    // Real time: a login answered before another was sent is earlier in
    // the serial order.
    let mut latest_start = None::<(Instant, &String)>;
    for id in &order {
        let l = admitted[id];
        if let Some((start, before)) = latest_start {
            assert!(
                l.ended >= start,
                "the order that explains the closes puts {before} before {id}, \
                 but {id} was answered before {before} was sent"
            );
        }
        if latest_start.is_none_or(|(start, _)| l.started > start) {
            latest_start = Some((l.started, id));
        }
    }
    report
}

/// Plays round `r`: the logins, the checks, the clean-up. Returns what it
/// saw and how long it took.
async fn play(
    api: &Api,
    fleet: &Fleet,
    r: usize,
    label: &str,
    on: OnExhaustion,
) -> (RoundReport, Duration) {
    let started = Instant::now();
    let observed = round(api, fleet, r, label).await;
    let most = observed.most;
    assert!(
        most <= QUOTA && observed.listed.len() <= QUOTA,
        "round {r}: {most} live sessions seen"
    );
    let mut seen = match on {
        OnExhaustion::DenyLogin => check_deny(&observed.logins, &observed.listed),
        OnExhaustion::CloseOldSession => check_close_old(&observed.logins, &observed.listed),
    };
    seen.max_live_seen = most;
    seen.listings = observed.listings;
    clean_up(api, &fleet.urls[r % SERVERS], &observed).await;
    (seen, started.elapsed())
}

/// Runs the rounds for one backend and policy and reports the numbers.
async fn attack(backend: Backend, on: OnExhaustion) {
    let rounds = std::env::var(ROUNDS_VAR).map_or(DEFAULT_ROUNDS, |n| {
        n.parse()
            .unwrap_or_else(|_| panic!("{ROUNDS_VAR}={n:?} is not a number"))
    });
    let label = format!("{backend:?}-{}", on.name()).to_lowercase();
    let fleet = tokio::task::block_in_place(|| Fleet::start(backend, on));
    let api = Api::new(Duration::from_secs(600));
    let started = Instant::now();
    let mut total = RoundReport::default();
    let mut slowest_round = Duration::ZERO;
    // One round at a time: the DynamoDB emulator is the bottleneck, and
    // two rounds at once made it slower, not faster.
    for r in 0..rounds {
        let (seen, took) = play(&api, &fleet, r, &label, on).await;
        total.created += seen.created;
        total.denied += seen.denied;
        total.unavailable += seen.unavailable;
        total.closed += seen.closed;
        total.max_live_seen = total.max_live_seen.max(seen.max_live_seen);
        total.listings += seen.listings;
        slowest_round = slowest_round.max(took);
        if (r + 1) % 10 == 0 && r + 1 < rounds {
            report(&format!(
                "quota {label}: {} rounds in {:.1}s",
                r + 1,
                started.elapsed().as_secs_f64()
            ));
        }
    }
    report(&format!(
        "quota {label}: {rounds} rounds of {LOGINS} logins on {SERVERS} servers in {:.1}s \
         (slowest round {:.1}s); 201: {}, 409: {}, 503: {}, closed: {}; max live sessions \
         seen {} (quota {QUOTA}) over {} listings",
        started.elapsed().as_secs_f64(),
        slowest_round.as_secs_f64(),
        total.created,
        total.denied,
        total.unavailable,
        total.closed,
        total.max_live_seen,
        total.listings,
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_under_attack_local_deny_login() {
    attack(Backend::Local, OnExhaustion::DenyLogin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_under_attack_local_close_old_session() {
    attack(Backend::Local, OnExhaustion::CloseOldSession).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_under_attack_redis_deny_login() {
    attack(Backend::Redis, OnExhaustion::DenyLogin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_under_attack_redis_close_old_session() {
    attack(Backend::Redis, OnExhaustion::CloseOldSession).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_under_attack_redis_cluster_deny_login() {
    attack(Backend::RedisCluster, OnExhaustion::DenyLogin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_under_attack_redis_cluster_close_old_session() {
    attack(Backend::RedisCluster, OnExhaustion::CloseOldSession).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_under_attack_dynamodb_deny_login() {
    attack(Backend::DynamoDb, OnExhaustion::DenyLogin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_under_attack_dynamodb_close_old_session() {
    attack(Backend::DynamoDb, OnExhaustion::CloseOldSession).await;
}

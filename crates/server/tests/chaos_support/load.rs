//! A steady load on one `tessera` server: client tasks that each create a
//! session (a subject of its own, so the quota never interferes) and then
//! read-and-touch a session acknowledged earlier, over and over, recording
//! every answer with its timing.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::{Answer, Api};

/// What a recorded request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `POST /sessions`.
    Create,
    /// `GET /sessions` with a SID (which touches the session).
    Touch,
}

/// One request of the load and what came back.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub op: Op,
    pub started: Instant,
    pub ended: Instant,
    /// The answer, or the transport error (as text).
    pub answer: Result<Answer, String>,
    /// For a touch: the epoch of the session read (see [`Load::next_epoch`]).
    pub epoch: u32,
}

impl Outcome {
    /// How long the request took.
    pub fn took(&self) -> Duration {
        self.ended - self.started
    }

    /// The status, if an answer came.
    pub fn status(&self) -> Option<StatusCode> {
        self.answer.as_ref().ok().map(|a| a.status)
    }
}

/// A session whose create was acknowledged (`201`).
#[derive(Debug, Clone)]
pub struct Acked {
    pub sid: String,
    pub sub: String,
    pub data: Value,
    /// The load's epoch when the create was sent.
    pub epoch: u32,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    epoch: AtomicU32,
    outcomes: Mutex<Vec<Outcome>>,
    acked: Mutex<Vec<Acked>>,
}

/// The running load; [`Load::stop`] ends it and hands over the records.
pub struct Load {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `workers` client tasks against `server`; subjects start with
    /// `label`.
    pub fn start(api: &Api, server: &str, workers: u32, label: &str) -> Self {
        let shared = Arc::new(Shared::default());
        let workers = (0..workers)
            .map(|worker| {
                let (api, server, shared) = (api.clone(), server.to_owned(), Arc::clone(&shared));
                let label = format!("{label}-{worker}");
                tokio::spawn(async move { work(&api, &server, &shared, worker, &label).await })
            })
            .collect();
        Self { shared, workers }
    }

    /// Starts a new epoch: touches from now on read only sessions created
    /// in it (after a backend lost its data, the older ones are gone).
    pub fn next_epoch(&self) -> u32 {
        self.shared.epoch.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Waits until `done` holds for the records so far, or fails after
    /// `limit` saying `what`.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&[Outcome], &[Acked]) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            {
                let outcomes = self.shared.outcomes.lock().unwrap();
                let acked = self.shared.acked.lock().unwrap();
                if done(&outcomes, &acked) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {}s",
                limit.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the client tasks (each finishes its request in flight) and
    /// returns every outcome and every acknowledged session.
    pub async fn stop(self) -> (Vec<Outcome>, Vec<Acked>) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for worker in self.workers {
            worker.await.expect("a load task panicked");
        }
        let outcomes = std::mem::take(&mut *self.shared.outcomes.lock().unwrap());
        let acked = std::mem::take(&mut *self.shared.acked.lock().unwrap());
        (outcomes, acked)
    }
}

async fn work(api: &Api, server: &str, shared: &Shared, worker: u32, label: &str) {
    // xorshift: which earlier session to touch; deterministic per worker.
    let mut pick = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(worker + 1);
    let mut n = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        n += 1;
        let epoch = shared.epoch.load(Ordering::SeqCst);
        let sub = format!("{label}-{n}");
        let data = json!({"worker": worker, "n": n, "text": format!("payload {worker}/{n}")});
        let body = json!({"sub": sub, "data": data});
        let started = Instant::now();
        let answer = api
            .call(server, Method::POST, "/sessions", None, Some(&body))
            .await
            .map_err(|e| format!("{e:?}"));
        let ended = Instant::now();
        let created = matches!(&answer, Ok(a) if a.status == StatusCode::CREATED);
        if let Ok(a) = &answer
            && created
        {
            let sid = a.body["sid"].as_str().expect("a 201 has a sid").to_owned();
            shared.acked.lock().unwrap().push(Acked {
                sid,
                sub,
                data,
                epoch,
            });
        }
        shared.outcomes.lock().unwrap().push(Outcome {
            op: Op::Create,
            started,
            ended,
            answer,
            epoch,
        });
        if !created {
            // A client that got no session pauses a moment, as a real one
            // would; it also keeps a fast-failing outage from flooding
            // the records.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        pick ^= pick << 13;
        pick ^= pick >> 7;
        pick ^= pick << 17;
        let target = {
            let epoch = shared.epoch.load(Ordering::SeqCst);
            let acked = shared.acked.lock().unwrap();
            let current: Vec<&Acked> = acked.iter().filter(|a| a.epoch == epoch).collect();
            let len = u64::try_from(current.len()).expect("fits");
            (len > 0).then(|| {
                let index = usize::try_from(pick % len).expect("fits");
                (current[index].sid.clone(), epoch)
            })
        };
        let Some((sid, epoch)) = target else {
            continue;
        };
        let started = Instant::now();
        let answer = api
            .call(server, Method::GET, "/sessions", Some(&sid), None)
            .await
            .map_err(|e| format!("{e:?}"));
        shared.outcomes.lock().unwrap().push(Outcome {
            op: Op::Touch,
            started,
            ended: Instant::now(),
            answer,
            epoch,
        });
    }
}

/// Checks that every request got an answer within `bound` and returns the
/// slowest answer's time.
pub fn assert_bounded(outcomes: &[Outcome], bound: Duration) -> Duration {
    let mut slowest = Duration::ZERO;
    for o in outcomes {
        if let Err(e) = &o.answer {
            panic!("a {:?} got no answer after {:?}: {e}", o.op, o.took());
        }
        assert!(
            o.took() <= bound,
            "a {:?} took {:?}, more than {bound:?}: {:?}",
            o.op,
            o.took(),
            o.answer
        );
        slowest = slowest.max(o.took());
    }
    slowest
}

/// The requests sent and answered wholly inside `[from, to]`, after
/// checking that each was a `503` with `Retry-After`. Returns them and the
/// slowest one's time.
pub fn assert_unavailable_between(
    outcomes: &[Outcome],
    from: Instant,
    to: Instant,
) -> (Vec<&Outcome>, Duration) {
    let inside: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.started >= from && o.ended <= to)
        .collect();
    for o in &inside {
        let a = o.answer.as_ref().expect("answered");
        assert_eq!(
            a.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "a {:?} during the outage: {a:?}",
            o.op
        );
        assert!(a.retry_after, "a 503 without Retry-After: {a:?}");
        assert!(
            matches!(a.error.as_deref(), Some("backend_unavailable" | "timeout")),
            "{a:?}"
        );
    }
    let slowest = inside.iter().map(|o| o.took()).max().unwrap_or_default();
    (inside, slowest)
}

/// Counts of answers by status, for the report.
pub fn by_status(outcomes: &[Outcome]) -> std::collections::BTreeMap<u16, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for o in outcomes {
        if let Some(status) = o.status() {
            *counts.entry(status.as_u16()).or_default() += 1;
        }
    }
    counts
}

/// Reads every session in `acked` (without touching it) and checks that it
/// is there with the subject and data it was created with.
pub async fn assert_all_readable(api: &Api, server: &str, acked: &[Acked]) {
    for a in acked {
        let answer = api
            .call(
                server,
                Method::GET,
                "/sessions?skip_last_used_update=true",
                Some(&a.sid),
                None,
            )
            .await
            .expect("an answer");
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "an acknowledged session of {} is not readable: {answer:?}",
            a.sub
        );
        assert_eq!(answer.body["sub"], a.sub.as_str(), "{answer:?}");
        assert_eq!(answer.body["data"], a.data, "{answer:?}");
    }
}

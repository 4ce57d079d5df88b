//! Requests and capacity units per store operation, measured against a
//! DynamoDB endpoint (the emulator `cargo xtask test` starts, or any other).
//!
//! ```text
//! cargo run -p tessera-store-dynamodb --example bench_dynamodb -- \
//!     [--endpoint http://127.0.0.1:PORT] [--iterations N]
//! ```
//!
//! The endpoint defaults to `TESSERA_TEST_DYNAMODB_ENDPOINT`. The program
//! creates its own table, runs each operation `N` times (default 20) and
//! prints a markdown table: HTTP requests per operation (every attempt
//! counts, retries included), which API calls they were, and the capacity
//! units the endpoint reported (requests are sent with
//! `ReturnConsumedCapacity=TOTAL`; an endpoint that reports nothing shows
//! "n/a"). Absolute latency against an emulator means nothing and is not
//! measured.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark reports on the terminal"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tessera_core::{Lifetime, OnQuotaExhaustion, Subject, Timestamp};
use tessera_store::testkit::{policy, session, session_ref};
use tessera_store::{SessionStore, Touch};
use tessera_store_dynamodb::sdk::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use tessera_store_dynamodb::sdk::config::{ConfigBag, Intercept, RuntimeComponents};
use tessera_store_dynamodb::sdk::error::BoxError;
use tessera_store_dynamodb::sdk::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
    delete_item::{DeleteItemInput, DeleteItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    scan::{ScanInput, ScanOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use tessera_store_dynamodb::sdk::types::{ConsumedCapacity, ReturnConsumedCapacity};
use tessera_store_dynamodb::{DynamoDbConfig, DynamoDbStore, create_table};

/// What the meter saw since the last reset.
#[derive(Debug, Default, Clone)]
struct Tally {
    requests: u64,
    /// API calls in the order first made, with their counts.
    calls: Vec<(String, u64)>,
    capacity: f64,
    /// Responses that carried consumed capacity / that could have.
    reported: u64,
    reportable: u64,
}

/// Counts HTTP attempts and sums the consumed capacity of responses.
#[derive(Debug, Default, Clone)]
struct Meter(Arc<Mutex<Tally>>);

impl Meter {
    fn take(&self) -> Tally {
        std::mem::take(&mut *self.0.lock().expect("meter lock"))
    }
}

macro_rules! ask_for_capacity {
    ($input:expr, $($t:ty),*) => {
        $(if let Some(i) = $input.downcast_mut::<$t>() {
            i.return_consumed_capacity = Some(ReturnConsumedCapacity::Total);
        })*
    };
}

fn sum(caps: &[ConsumedCapacity]) -> f64 {
    caps.iter()
        .filter_map(ConsumedCapacity::capacity_units)
        .sum()
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "RequestMeter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        ask_for_capacity!(
            input,
            GetItemInput,
            PutItemInput,
            UpdateItemInput,
            DeleteItemInput,
            TransactWriteItemsInput,
            BatchGetItemInput,
            BatchWriteItemInput,
            ScanInput
        );
        Ok(())
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let call = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        let mut tally = self.0.lock().expect("meter lock");
        tally.requests += 1;
        match tally.calls.iter_mut().find(|(c, _)| *c == call) {
            Some((_, count)) => *count += 1,
            None => tally.calls.push((call, 1)),
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(out) = context.output_or_error() else {
            return Ok(());
        };
        let units = if let Some(o) = out.downcast_ref::<GetItemOutput>() {
            o.consumed_capacity
                .as_ref()
                .and_then(ConsumedCapacity::capacity_units)
        } else if let Some(o) = out.downcast_ref::<PutItemOutput>() {
            o.consumed_capacity
                .as_ref()
                .and_then(ConsumedCapacity::capacity_units)
        } else if let Some(o) = out.downcast_ref::<UpdateItemOutput>() {
            o.consumed_capacity
                .as_ref()
                .and_then(ConsumedCapacity::capacity_units)
        } else if let Some(o) = out.downcast_ref::<DeleteItemOutput>() {
            o.consumed_capacity
                .as_ref()
                .and_then(ConsumedCapacity::capacity_units)
        } else if let Some(o) = out.downcast_ref::<ScanOutput>() {
            o.consumed_capacity
                .as_ref()
                .and_then(ConsumedCapacity::capacity_units)
        } else if let Some(o) = out.downcast_ref::<TransactWriteItemsOutput>() {
            o.consumed_capacity
                .as_deref()
                .filter(|c| !c.is_empty())
                .map(sum)
        } else if let Some(o) = out.downcast_ref::<BatchGetItemOutput>() {
            o.consumed_capacity
                .as_deref()
                .filter(|c| !c.is_empty())
                .map(sum)
        } else if let Some(o) = out.downcast_ref::<BatchWriteItemOutput>() {
            o.consumed_capacity
                .as_deref()
                .filter(|c| !c.is_empty())
                .map(sum)
        } else {
            return Ok(());
        };
        let mut tally = self.0.lock().expect("meter lock");
        tally.reportable += 1;
        if let Some(units) = units {
            tally.reported += 1;
            tally.capacity += units;
        }
        Ok(())
    }
}

/// One row of the report: the totals over all iterations.
#[derive(Default)]
struct Row {
    runs: u64,
    requests: u64,
    calls: Vec<(String, u64)>,
    capacity: f64,
    reported: u64,
    reportable: u64,
}

impl Row {
    fn add(&mut self, t: Tally) {
        self.runs += 1;
        self.requests += t.requests;
        for (call, n) in t.calls {
            match self.calls.iter_mut().find(|(c, _)| *c == call) {
                Some((_, count)) => *count += n,
                None => self.calls.push((call, n)),
            }
        }
        self.capacity += t.capacity;
        self.reported += t.reported;
        self.reportable += t.reportable;
    }
}

#[expect(clippy::cast_precision_loss, reason = "small counts")]
fn per_run(n: u64, runs: u64) -> f64 {
    n as f64 / runs as f64
}

struct Bench {
    store: DynamoDbStore,
    meter: Meter,
    rows: BTreeMap<&'static str, Row>,
    order: Vec<&'static str>,
}

impl Bench {
    fn record(&mut self, name: &'static str) {
        let tally = self.meter.take();
        if !self.rows.contains_key(name) {
            self.order.push(name);
        }
        self.rows.entry(name).or_default().add(tally);
    }

    fn report(&self) -> String {
        let mut out = String::from(
            "| operation | requests | API calls per operation, in order | capacity units reported by the endpoint |\n\
             |---|---:|---|---:|\n",
        );
        for name in &self.order {
            let row = &self.rows[name];
            let calls = row
                .calls
                .iter()
                .map(|(k, v)| {
                    let each = per_run(*v, row.runs);
                    if (each - 1.0).abs() < f64::EPSILON {
                        k.clone()
                    } else {
                        format!("{each:.2}× {k}")
                    }
                })
                .collect::<Vec<_>>()
                .join(" + ");
            let capacity = if row.reported == 0 {
                "n/a".to_owned()
            } else if row.reported < row.reportable {
                format!(
                    "{:.2} ({} of {} responses)",
                    per_run_f(row.capacity, row.runs),
                    row.reported,
                    row.reportable
                )
            } else {
                format!("{:.2}", per_run_f(row.capacity, row.runs))
            };
            let _ = writeln!(
                out,
                "| {name} | {:.2} | {calls} | {capacity} |",
                per_run(row.requests, row.runs)
            );
        }
        out
    }
}

#[expect(clippy::cast_precision_loss, reason = "small counts")]
fn per_run_f(x: f64, runs: u64) -> f64 {
    x / runs as f64
}

fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    Timestamp::from_secs(i64::try_from(secs).expect("fits"))
}

/// One round of every per-session operation, for a subject of its own.
async fn one_round(b: &mut Bench, i: u32) -> Result<(), Box<dyn std::error::Error>> {
    let deny = policy(3, OnQuotaExhaustion::DenyLogin);
    let close = policy(3, OnQuotaExhaustion::CloseOldSession);
    let t = now();
    let who = format!("bench-{i}");
    let subject = Subject::new(who.clone())?;
    let s = || session(&who, "web", t, 60, 60, 30);

    let first = session_ref(&who);
    b.store.create(&first, &s(), &deny, t).await?;
    b.record("create (first session of the subject)");
    let second = session_ref(&who);
    b.store.create(&second, &s(), &deny, t).await?;
    b.record("create (under the quota)");
    let third = session_ref(&who);
    b.store.create(&third, &s(), &deny, t).await?;
    b.meter.take();
    let denied = b.store.create(&session_ref(&who), &s(), &deny, t).await;
    assert!(denied.is_err(), "over the quota");
    b.record("create (at the quota, DENY_LOGIN: denied)");
    let fourth = session_ref(&who);
    let created = b.store.create(&fourth, &s(), &close, t).await?;
    assert_eq!(created.closed.len(), 1);
    b.record("create (at the quota, CLOSE_OLD_SESSION)");

    let later = Timestamp::from_millis(t.as_millis() + 1_000);
    b.store.get(&fourth, later).await?.ok_or("alive")?;
    b.record("get (no touch)");
    let touched = b
        .store
        .get_and_touch(&fourth, later, Touch::Yes)
        .await?
        .ok_or("alive")?;
    b.record("get-and-touch (within the touch window)");
    let mut changed = touched.clone();
    changed.data.insert("n".into(), serde_json::Value::from(i));
    let updated = b.store.update(&fourth, &changed, later).await?;
    b.record("update");
    let mut extended = updated.clone();
    extended.max_life = Lifetime::from_minutes("max_life", 120)?;
    extended.auth_life = Lifetime::from_minutes("auth_life", 120)?;
    b.store.update(&fourth, &extended, later).await?;
    b.record("update (extends the hard expiry)");
    let listed = b.store.list_by_subject(&subject, None, later).await?;
    assert_eq!(listed.len(), 3);
    b.record("list-by-subject (3 sessions)");
    // Touches coalesced by the window (60 s): a session read 10 times
    // within one window, then once per window.
    for second in 2..=11 {
        let at = Timestamp::from_millis(t.as_millis() + second * 1_000);
        b.store.get_and_touch(&fourth, at, Touch::Yes).await?;
    }
    b.record("10 × get-and-touch within one window (all ten)");
    for window in 1..=10 {
        let at = Timestamp::from_millis(t.as_millis() + window * 61_000);
        b.store.get_and_touch(&fourth, at, Touch::Yes).await?;
    }
    b.record("10 × get-and-touch, one per window (all ten)");
    b.store.delete(&fourth, later).await?.ok_or("was live")?;
    b.record("delete");
    let gone = b.store.delete_by_subject(&subject, None, later).await?;
    assert_eq!(gone.len(), 2);
    b.record("delete-by-subject (2 sessions)");
    Ok(())
}

/// Count and purge over a table of 40 sessions, 20 of them expired.
async fn scans(b: &mut Bench) -> Result<(), Box<dyn std::error::Error>> {
    let deny = policy(3, OnQuotaExhaustion::DenyLogin);
    // A table of 40 sessions, 20 of which have expired, for the scans.
    let t = now();
    for i in 0..40 {
        let who = format!("scan-{i}");
        let life = if i % 2 == 0 { 1 } else { 60 };
        let s = session(&who, "web", t, life, -1, -1);
        b.store.create(&session_ref(&who), &s, &deny, t).await?;
    }
    b.meter.take();
    let later = Timestamp::from_millis(t.as_millis() + 120_000);
    let live = b.store.count(later).await?;
    assert_eq!(live, 20);
    b.record("count (40 sessions, 40 index items)");
    let purged = b.store.purge(later).await?;
    assert_eq!((purged.sessions, purged.index_entries), (20, 20));
    b.record("purge (20 of 40 sessions expired)");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut endpoint = std::env::var("TESSERA_TEST_DYNAMODB_ENDPOINT").ok();
    let mut iterations: u32 = 20;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--endpoint" => endpoint = args.next(),
            "--iterations" => {
                iterations = args.next().ok_or("--iterations needs a number")?.parse()?;
            }
            other => return Err(format!("unknown argument `{other}`").into()),
        }
    }
    let endpoint =
        endpoint.ok_or("no endpoint: pass --endpoint or set TESSERA_TEST_DYNAMODB_ENDPOINT")?;

    let table = format!("tessera-bench-{}", std::process::id());
    let mut config = DynamoDbConfig::new(&table);
    config.endpoint_url = Some(endpoint.clone());
    config.aws_region_name = Some("us-east-1".into());
    config.aws_access_key = Some("bench".into());
    config.aws_secret_key = Some("bench".into());
    let meter = Meter::default();
    let sdk = config
        .sdk_config()
        .await?
        .interceptor(meter.clone())
        .build();
    let client = tessera_store_dynamodb::sdk::Client::from_conf(sdk);
    create_table(&config).await?;
    let store = DynamoDbStore::with_client(client, &config).await?;
    meter.take();
    let mut b = Bench {
        store,
        meter,
        rows: BTreeMap::new(),
        order: Vec::new(),
    };

    for i in 0..iterations {
        one_round(&mut b, i).await?;
    }
    scans(&mut b).await?;

    println!("DynamoDB store, {iterations} iterations against {endpoint}\n");
    print!("{}", b.report());
    b.store
        .client()
        .delete_table()
        .table_name(&table)
        .send()
        .await?;
    eprintln!("(deleted table {table})");
    Ok(())
}

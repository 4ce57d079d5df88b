//! The key layout is the documented one (docs/backends/redis.md), and each
//! operation is exactly one round trip.

mod common;

use std::collections::HashMap;

use fred::clients::Client;
use fred::interfaces::{
    ClientLike as _, HashesInterface as _, KeysInterface as _, SortedSetsInterface as _,
};
use fred::types::CustomCommand;
use tessera_core::{OnQuotaExhaustion, Timestamp};
use tessera_crypto::{SessionRef, StorageKey, SubjectTag};
use tessera_store::testkit::{policy, pre_login_ref, pre_login_session, session, session_ref};
use tessera_store::{Clock as _, SessionStore, StoreError, SystemClock, Touch};
use tessera_store_redis::{RedisConfig, RedisStore};

const MIN: i64 = 60_000;

fn now() -> Timestamp {
    Timestamp::from_secs(SystemClock.now().as_secs())
}

/// The scripts' map of a session value (docs/backends/redis.md).
#[derive(Debug, PartialEq, serde::Deserialize)]
struct Stored {
    #[serde(rename = "l")]
    lu: i64,
    #[serde(rename = "m")]
    mi: i64,
    #[serde(rename = "h")]
    hx: i64,
    v: u64,
    #[serde(rename = "s")]
    sh: String,
    #[serde(rename = "c")]
    cx: String,
    b: serde_bytes::ByteBuf,
}

/// A storage key as the layout writes it: unpadded base64url.
fn member(id: &SessionRef) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.storage_key().as_bytes())
}

/// The header and map of the session value at `key`, with the names of
/// every key of the map.
async fn stored(raw: &Client, key: &str) -> (Vec<u8>, Stored, Vec<String>) {
    let value: Vec<u8> = raw.get(key).await.expect("get");
    let (header, map) = value.split_at(3);
    let names = map_keys(map);
    (
        header.to_vec(),
        rmp_serde::from_slice(map).expect("the documented fields"),
        names,
    )
}

/// The keys of a MessagePack map, sorted.
#[expect(clippy::zero_sized_map_values, reason = "only the keys are wanted")]
fn map_keys(map: &[u8]) -> Vec<String> {
    let entries: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
        rmp_serde::from_slice(map).expect("a MessagePack map");
    entries.into_keys().collect()
}

#[tokio::test]
async fn a_session_is_one_value_expiring_with_the_session_and_an_index_entry() {
    let config = common::standalone_config();
    let store = RedisStore::open(&config).await.expect("connects");
    let raw = common::raw_client(&config).await;
    let now = now();
    let id = session_ref("quinn");
    let mut s = session("quinn", "mobile", now, 120, 60, 30);
    s.auth_time = Timestamp::from_millis(now.as_millis() - 10 * MIN);
    store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), now)
        .await
        .expect("create");

    let key = store.session_key(&id);
    let tag = SubjectTag::of("quinn").to_hex();
    assert_eq!(
        key,
        format!("{}{{{tag}}}:s:{}", config.key_prefix, member(&id))
    );
    let (header, fields, names) = stored(&raw, &key).await;
    let hard = now.as_millis() + 50 * MIN; // auth_time + auth_life
    assert_eq!(header, b"TS\x02", "magic and format 2");
    assert_eq!(
        names,
        ["b", "c", "h", "l", "m", "s", "v"],
        "no k: unknown signer"
    );
    assert_eq!(fields.lu, now.as_millis());
    assert_eq!(fields.mi, 30 * MIN);
    assert_eq!(fields.hx, hard);
    assert_eq!(fields.v, 1);
    assert_eq!(fields.cx, "mobile");
    assert_eq!(fields.sh.len(), 22);
    assert_eq!(
        map_keys(&fields.b),
        ["a", "al", "c", "d", "ml", "s"],
        "short names; no empty fields"
    );

    // PXAT is the session's expiry: last use + 30 min idle.
    let expires_at = |raw: Client, key: String| async move {
        let ttl: i64 = raw.pttl(key).await.expect("pttl");
        ttl + SystemClock.now().as_millis()
    };
    let at = expires_at(raw.clone(), key.clone()).await;
    assert!((at - (now.as_millis() + 30 * MIN)).abs() < 5_000, "{at}");

    let index = store.index_key(&s.subject);
    assert!(index.starts_with(&format!("{}{{{tag}}}:u:", config.key_prefix)));
    assert!(index.ends_with(&fields.sh));
    let index_score: f64 = raw.zscore(&index, member(&id)).await.expect("zscore");
    #[expect(clippy::cast_precision_loss, reason = "ms timestamps are exact in f64")]
    let hard_f = hard as f64;
    assert!((index_score - hard_f).abs() < 0.5, "scored by hard expiry");

    // A touch within the window writes nothing.
    let soon = Timestamp::from_millis(now.as_millis() + 30_000);
    let read = store
        .get_and_touch(&id, soon, Touch::Yes)
        .await
        .expect("touch")
        .expect("alive");
    assert_eq!(read.last_used, soon, "the read reports the use");
    assert_eq!(
        stored(&raw, &key).await.1,
        fields,
        "within the window: not written"
    );

    // A touch 20 minutes later moves `lu` and the key's expiry, and carries
    // the body as it was.
    let later = Timestamp::from_millis(now.as_millis() + 20 * MIN);
    store
        .get_and_touch(&id, later, Touch::Yes)
        .await
        .expect("touch")
        .expect("alive");
    let (_, after, _) = stored(&raw, &key).await;
    assert_eq!(after.lu, later.as_millis());
    assert_eq!(after.b, fields.b, "the body is carried unchanged");
    assert_eq!(after.v, 1, "a touch is not a new version");
    let at = expires_at(raw.clone(), key.clone()).await;
    assert!(
        (at - hard).abs() < 5_000,
        "now capped by the hard expiry: {at}"
    );
}

#[tokio::test]
async fn a_session_of_the_hash_layout_is_refused_with_a_message_and_can_be_ended() {
    let config = common::standalone_config();
    let store = RedisStore::open(&config).await.expect("connects");
    let raw = common::raw_client(&config).await;
    let now = now();
    let id = session_ref("olga");
    let key = store.session_key(&id);
    // What Tessera 0.1 wrote: a hash of separate fields.
    let () = raw
        .hset(
            &key,
            vec![
                ("rec", "{\"format\":1}"),
                ("lu", "0"),
                ("mi", "-1"),
                ("hx", "never"),
            ],
        )
        .await
        .expect("hset");
    let err = store.get(&id, now).await.expect_err("refused");
    let message = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(message.contains("format 1"), "{message}");
    assert!(message.contains("Upgrades"), "{message}");
    let err = store
        .create(
            &id,
            &session("olga", "web", now, 60, 60, 60),
            &policy(5, OnQuotaExhaustion::DenyLogin),
            now,
        )
        .await
        .expect_err("not overwritten");
    assert!(matches!(err, StoreError::AlreadyExists), "{err:?}");
    assert_eq!(store.count(now).await.expect("count"), 0, "not counted");
    assert_eq!(
        store
            .delete(&id, now)
            .await
            .expect("a logout is not refused"),
        None
    );
    let exists: i64 = raw.exists(&key).await.expect("exists");
    assert_eq!(exists, 0, "ended");
}

#[tokio::test]
async fn a_session_that_never_expires_has_no_key_expiry() {
    let config = common::standalone_config();
    let store = RedisStore::open(&config).await.expect("connects");
    let raw = common::raw_client(&config).await;
    let now = now();
    let id = session_ref("rosa");
    let s = session("rosa", "web", now, -1, -1, -1);
    store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), now)
        .await
        .expect("create");
    let ttl: i64 = raw.pttl(store.session_key(&id)).await.expect("pttl");
    assert_eq!(ttl, -1);
    let index_score: f64 = raw
        .zscore(store.index_key(&s.subject), member(&id))
        .await
        .expect("zscore");
    assert!(index_score.is_infinite());
}

#[tokio::test]
async fn a_reference_without_the_subjects_tag_is_refused() {
    let config = common::standalone_config();
    let store = RedisStore::open(&config).await.expect("connects");
    let now = now();
    let s = session("sam", "web", now, 60, 60, 60);
    let other_tag = SubjectTag::from_bytes([SubjectTag::of("sam").as_bytes()[0] ^ 0xff, 0]);
    let id = SessionRef::new(other_tag, StorageKey::from_sid_key_bytes(&[3; 16]));
    let err = store
        .create(&id, &s, &policy(5, OnQuotaExhaustion::DenyLogin), now)
        .await
        .expect_err("refused");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

/// Calls per command since the last reset.
async fn command_calls(raw: &Client) -> HashMap<String, u64> {
    let info: String = raw
        .info(Some(fred::types::InfoKind::CommandStats))
        .await
        .expect("info");
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

async fn reset_stats(raw: &Client) {
    let () = raw
        .custom(
            CustomCommand::new_static("CONFIG", None, false),
            vec!["RESETSTAT"],
        )
        .await
        .expect("resetstat");
}

/// Client round trips are the `EVALSHA`/`EVAL` calls and the plain
/// commands in `plain`; every other command counted must be one the
/// scripts issue inside Redis (`inner`).
fn round_trips(calls: &HashMap<String, u64>, plain: &[&str], inner: &[&str]) -> u64 {
    for name in calls.keys() {
        assert!(
            ["evalsha", "eval", "info", "config|resetstat"].contains(&name.as_str())
                || plain.contains(&name.as_str())
                || inner.contains(&name.as_str()),
            "unexpected command `{name}` sent: {calls:?}"
        );
    }
    let count = |name: &str| calls.get(name).copied().unwrap_or(0);
    count("evalsha") + count("eval") + plain.iter().map(|name| count(name)).sum::<u64>()
}

#[tokio::test]
async fn a_read_is_one_get_a_due_touch_two_round_trips_and_a_create_one() {
    const N: u64 = 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let redis = common::PrivateRedis::start(dir.path());
    let mut config = RedisConfig::from_url(redis.url());
    config.key_prefix = common::unique_prefix();
    let store = RedisStore::open(&config).await.expect("connects");
    let raw = common::raw_client(&config).await;
    let now = now();
    let p = policy(3, OnQuotaExhaustion::CloseOldSession);

    reset_stats(&raw).await;
    for _ in 0..N {
        let s = session("tina", "web", now, 60, 60, 60);
        store
            .create(&session_ref("tina"), &s, &p, now)
            .await
            .expect("create");
    }
    let calls = command_calls(&raw).await;
    assert_eq!(
        round_trips(
            &calls,
            &[],
            &["get", "zrange", "del", "zrem", "set", "zadd"]
        ),
        N,
        "{calls:?}"
    );
    assert_eq!(calls.get("eval"), None, "scripts were loaded at connect");

    let id = session_ref("uma");
    let s = session("uma", "web", now, 600, 600, 600);
    store.create(&id, &s, &p, now).await.expect("create");
    // Reads a second apart, all within the default 60 s window: one plain
    // GET each, no script.
    reset_stats(&raw).await;
    for i in 1..=N {
        let at = Timestamp::from_millis(now.as_millis() + i64::try_from(i).expect("small") * 1_000);
        store
            .get_and_touch(&id, at, Touch::Yes)
            .await
            .expect("touch")
            .expect("alive");
    }
    let calls = command_calls(&raw).await;
    assert_eq!(round_trips(&calls, &["getrange"], &[]), N, "{calls:?}");
    assert_eq!(calls.get("evalsha"), None, "no touch was due");
    // Reads a window apart: each one is due, so a GET and the touch script.
    reset_stats(&raw).await;
    for i in 1..=N {
        let at = Timestamp::from_millis(now.as_millis() + i64::try_from(i).expect("small") * MIN);
        store
            .get_and_touch(&id, at, Touch::Yes)
            .await
            .expect("touch")
            .expect("alive");
    }
    let calls = command_calls(&raw).await;
    // `INFO commandstats` counts the GET inside each script too.
    assert_eq!(
        round_trips(&calls, &["getrange"], &["get", "set"]),
        2 * N,
        "{calls:?}"
    );
    assert_eq!(
        calls.get("evalsha"),
        Some(&N),
        "every due touch is one script"
    );
    assert_eq!(
        calls.get("getrange"),
        Some(&N),
        "one bounded read each by the store"
    );
    assert_eq!(calls.get("get"), Some(&N), "one GET in each script");
    assert_eq!(
        calls.get("set"),
        Some(&N),
        "every due touch wrote the value"
    );
}

/// Every operation of the store once, through `store`.
async fn every_operation(store: &RedisStore) {
    let now = now();
    let p = policy(1, OnQuotaExhaustion::CloseOldSession);
    let subject = tessera_core::Subject::new("vera").expect("subject");
    let a = session_ref("vera");
    let s = session("vera", "web", now, 60, 60, 5);
    store.create(&a, &s, &p, now).await.expect("create");
    let b = session_ref("vera");
    let closed = store
        .create(&b, &s, &p, now)
        .await
        .expect("create, closing one");
    assert_eq!(closed.closed, vec![a]);
    store
        .get_and_touch(&b, now, Touch::Yes)
        .await
        .expect("read");
    let soon = Timestamp::from_millis(now.as_millis() + 2 * MIN);
    store
        .get_and_touch(&b, soon, Touch::Yes)
        .await
        .expect("a due touch");
    store.update(&b, &s, now).await.expect("update");
    store
        .list_by_subject(&subject, None, now)
        .await
        .expect("list");
    assert_eq!(store.count(now).await.expect("count"), 1);
    let later = Timestamp::from_millis(now.as_millis() + 10 * MIN);
    assert_eq!(store.purge(later).await.expect("purge").sessions, 1);
    store.create(&a, &s, &p, now).await.expect("create");
    store.delete(&a, now).await.expect("delete");
    store
        .delete_by_subject(&subject, None, now)
        .await
        .expect("delete by subject");
    store.ping().await.expect("ping");
}

/// The documented ACL with the rules docs/backends/redis.md adds for
/// Redis Cluster (`+cluster|info +cluster|slots`), set on every node of
/// the test Cluster: every operation runs as that user alone, and no node
/// logs a refusal for it.
#[tokio::test]
async fn the_documented_acl_with_its_cluster_rules_is_enough_on_a_cluster() {
    let mut config = common::cluster_config();
    let user = config.key_prefix.trim_end_matches(':').to_owned();
    let rule = "+evalsha +eval +script|load +scan +get +getrange +set +hget +ping +info \
                +client|id +del +zrange +zadd +zrem +cluster|info +cluster|slots";
    let nodes: Vec<String> = config.cluster_nodes.clone();
    let prefix_pattern = format!("~{}*", config.key_prefix);
    for node in &nodes {
        let admin = common::raw_client(&RedisConfig::from_url(node.clone())).await;
        let mut acl = vec![
            "SETUSER",
            user.as_str(),
            "on",
            ">pw",
            &prefix_pattern,
            "resetchannels",
        ];
        acl.extend(rule.split_whitespace());
        let () = admin
            .custom(CustomCommand::new_static("ACL", None, false), acl)
            .await
            .expect("acl setuser");
    }
    config.cluster_nodes = nodes
        .iter()
        .map(|url| url.replacen("redis://", &format!("redis://{user}:pw@"), 1))
        .collect();
    let store = RedisStore::open(&config)
        .await
        .expect("the ACL user connects to the Cluster");
    every_operation(&store).await;
    for node in &nodes {
        let admin = common::raw_client(&RedisConfig::from_url(node.clone())).await;
        let log: Vec<fred::types::Value> = admin
            .custom(CustomCommand::new_static("ACL", None, false), vec!["LOG"])
            .await
            .expect("acl log");
        let ours: Vec<&fred::types::Value> = log
            .iter()
            .filter(|entry| format!("{entry:?}").contains(&user))
            .collect();
        assert!(ours.is_empty(), "{node} refused: {ours:?}");
        let _: () = admin
            .custom(
                CustomCommand::new_static("ACL", None, false),
                vec!["DELUSER", user.as_str()],
            )
            .await
            .expect("acl deluser");
    }
}

#[tokio::test]
async fn the_documented_acl_is_enough() {
    let dir = tempfile::tempdir().expect("temp dir");
    let redis = common::PrivateRedis::start(dir.path());
    let admin = common::raw_client(&RedisConfig::from_url(redis.url())).await;
    // The command list of docs/backends/redis.md ("TLS and authentication").
    let rule = "+evalsha +eval +script|load +scan +get +getrange +set +hget +ping +info \
                +client|id +del +zrange +zadd +zrem";
    let mut acl = vec![
        "SETUSER",
        "tessera",
        "on",
        ">pw",
        "~tessera:*",
        "resetchannels",
    ];
    acl.extend(rule.split_whitespace());
    let () = admin
        .custom(CustomCommand::new_static("ACL", None, false), acl)
        .await
        .expect("acl setuser");

    let mut config = RedisConfig::from_url(format!("redis://tessera:pw@127.0.0.1:{}", redis.port));
    config.key_prefix = "tessera:".into();
    let store = RedisStore::open(&config)
        .await
        .expect("the ACL user connects");
    every_operation(&store).await;

    // Nothing the store sent was denied: the ACL log (which records every
    // NOPERM, including those of commands the driver sends on its own, such
    // as on connecting) is empty.
    let denied: Vec<fred::types::Value> = admin
        .custom(CustomCommand::new_static("ACL", None, false), vec!["LOG"])
        .await
        .expect("acl log");
    assert!(denied.is_empty(), "commands the ACL refused: {denied:?}");

    // And the same user is refused outside its prefix.
    let now = now();
    let p = policy(1, OnQuotaExhaustion::CloseOldSession);
    let s = session("vera", "web", now, 60, 60, 5);
    config.key_prefix = "other:".into();
    let outside = RedisStore::open(&config).await.expect("connects");
    let err = outside
        .create(&session_ref("vera"), &s, &p, now)
        .await
        .expect_err("no permission on other keys");
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
}

/// Every key under the config's prefix.
async fn keys_under(raw: &Client, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = raw
        .custom(
            CustomCommand::new_static("KEYS", None, false),
            vec![format!("{prefix}*")],
        )
        .await
        .expect("keys");
    keys.sort();
    keys
}

/// `MEMORY USAGE` of `key`, in bytes.
async fn memory_usage(raw: &Client, key: &str) -> i64 {
    raw.custom(
        CustomCommand::new_static("MEMORY", None, false),
        vec!["USAGE", key],
    )
    .await
    .expect("memory usage")
}

#[tokio::test]
#[expect(
    clippy::print_stderr,
    reason = "the size is reported for docs/backends"
)]
async fn a_pre_login_session_is_one_value_and_no_index_key() {
    let config = common::standalone_config();
    let store = RedisStore::open(&config).await.expect("connects");
    let raw = common::raw_client(&config).await;
    let now = now();
    let mut data = serde_json::Map::new();
    data.insert("cart".into(), serde_json::json!("x".repeat(200)));
    let pre = pre_login_session(now, data.clone());
    let id = pre_login_ref();
    store
        .create_anonymous(&id, &pre, now)
        .await
        .expect("create");
    let mut next = pre.clone();
    next.data.insert("step".into(), serde_json::json!(2));
    store.update(&id, &next, now).await.expect("update");
    let later = Timestamp::from_millis(now.as_millis() + 20 * MIN);
    store
        .get_and_touch(&id, later, Touch::Yes)
        .await
        .expect("touch")
        .expect("alive");
    let key = store.session_key(&id);
    assert_eq!(
        keys_under(&raw, &config.key_prefix).await,
        std::slice::from_ref(&key),
        "one value, no index key, after a create, an update and a touch"
    );
    let (_, fields, _) = stored(&raw, &key).await;
    assert_eq!(fields.sh, "", "no subject hash: no index");
    assert_eq!(fields.v, 2);

    // What it costs next to a signed-in session with the same data: that
    // one also has an index key (its subject's only session here).
    let signed_in_id = session_ref("quentin");
    let mut signed_in = session("quentin", "web", now, 60, 60, 30);
    signed_in.data = data;
    store
        .create(
            &signed_in_id,
            &signed_in,
            &policy(5, OnQuotaExhaustion::DenyLogin),
            now,
        )
        .await
        .expect("create");
    let pre_bytes = memory_usage(&raw, &key).await;
    let value_bytes = memory_usage(&raw, &store.session_key(&signed_in_id)).await;
    let index_bytes = memory_usage(&raw, &store.index_key(&signed_in.subject)).await;
    eprintln!(
        "MEMORY USAGE, 200-byte data: pre-login {pre_bytes} B; signed-in {value_bytes} B \
         + index {index_bytes} B"
    );
    assert!(
        pre_bytes < value_bytes + index_bytes,
        "a pre-login session costs less than a signed-in one"
    );
}

use super::*;

fn yaml(text: &str) -> RedisConfig {
    // The server reads YAML; JSON is YAML, and serde_json is at hand.
    serde_json::from_str(text).expect("parses")
}

#[test]
fn url_forms() {
    let c = RedisConfig::from_url("redis://user:pw@127.0.0.1:7000/3")
        .client_config()
        .unwrap();
    assert!(c.server.is_centralized());
    assert_eq!(c.database, Some(3));
    assert_eq!(c.username.as_deref(), Some("user"));
    assert_eq!(c.password.as_deref(), Some("pw"));
    assert!(c.tls.is_none());

    let c = RedisConfig::from_url("rediss://127.0.0.1:7000")
        .client_config()
        .unwrap();
    assert!(c.tls.is_some(), "rediss:// turns TLS on, verified");

    let mut cluster = RedisConfig::from_url("redis://127.0.0.1:7000");
    cluster.cluster = true;
    assert!(cluster.client_config().unwrap().server.is_clustered());

    let c = RedisConfig::from_cluster_nodes(["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])
        .client_config()
        .unwrap();
    assert_eq!(c.server.hosts().len(), 2);
}

#[test]
fn tokenizer_form() {
    let c = yaml(r#"{"host": "cache.internal", "port": 6380, "options": {"ssl": true}}"#);
    let f = c.client_config().unwrap();
    assert_eq!(&*f.server.hosts()[0].host, "cache.internal");
    assert_eq!(f.server.hosts()[0].port, 6380);
    assert!(f.tls.is_some());
    let c = yaml(r#"{"host": "h"}"#);
    assert_eq!(c.client_config().unwrap().server.hosts()[0].port, 6379);
}

#[test]
fn sentinel_form() {
    let c = yaml(
        r#"{"sentinel": {"service_name": "main", "nodes": ["s1:26380", "s2"]},
            "options": {"password": "p", "db": 2}}"#,
    );
    let f = c.client_config().unwrap();
    assert!(f.server.is_sentinel());
    let hosts = f.server.hosts();
    assert_eq!((hosts[0].port, hosts[1].port), (26380, 26379));
    assert_eq!(f.database, Some(2));
}

#[test]
fn mistakes_name_the_setting() {
    let err = |c: RedisConfig| c.client_config().unwrap_err().to_string();
    assert!(err(RedisConfig::default()).contains("found 0"));
    let mut both = RedisConfig::from_url("redis://a");
    both.host = Some("b".into());
    assert!(err(both).contains("found 2"));
    let mut prefix = RedisConfig::from_url("redis://a");
    prefix.key_prefix = "x{y}:".into();
    assert!(err(prefix).contains("key_prefix"));
    let mut insecure = RedisConfig::from_url("redis://a");
    insecure.tls_insecure_skip_verify = true;
    assert!(err(insecure).contains("TLS is off"));
    let mut timeout = RedisConfig::from_url("redis://a");
    timeout.command_timeout = Duration::ZERO;
    assert!(err(timeout).contains("command_timeout_ms"));
    let mut db = RedisConfig::from_url("redis://a/2");
    db.cluster = true;
    assert!(err(db).contains("`db`"));
    assert!(err(RedisConfig::from_url("not a url")).contains("`url`"));
    assert!(
        serde_json::from_str::<RedisConfig>(r#"{"hots": "a"}"#)
            .unwrap_err()
            .to_string()
            .contains("hots")
    );
}

#[test]
fn debug_hides_passwords() {
    let mut c = RedisConfig::from_url("rediss://user:s3cret@host:1/0");
    c.options.password = Some("s3cret".into());
    c.cluster_nodes = vec!["redis://:s3cret@n:1".into()];
    let shown = format!("{c:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("rediss://<redacted>@host:1/0"), "{shown}");
}

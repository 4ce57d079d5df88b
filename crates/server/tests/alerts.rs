//! The alert rules of docs/operations.md ("Monitoring"), loaded by
//! Prometheus' own `promtool` and evaluated over what a real server's
//! `/metrics` said through a real slowdown and a real outage of its Redis.
//!
//! The server is scraped once per phase step; each scrape becomes one
//! sample of every series at a fixed synthetic interval, so that the rules'
//! `for` durations (minutes) are met without waiting for them. What is
//! checked:
//!
//! * with Redis pausing writes, logins are slow and lookups are not:
//!   `TesseraSlowLookups` stays silent, though the p99 of logins is over
//!   its threshold (so it counts lookups only);
//! * with Redis stopped, `TesseraNotReady` and `TesseraBackendUnavailable`
//!   fire;
//! * with the server gone, `TesseraDown` fires on the failed scrapes;
//! * in twelve minutes of normal operation (longer than any rule's
//!   `for`), no documented alert fires.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use tessera_crypto::TokenHash;
use tessera_store::testkit::service_env;

mod cli_support;
mod docs_support;

use cli_support::redis::PrivateRedis;
use cli_support::{BASE, json_field, request};

const PASSWORD: &str = "hT4k-9qZ_mW2xVbR-alerts";
const TOKEN: &str = "alerts-test-token-0123456789abcdefghijklmnop";
/// The synthetic time between two scrapes, in minutes.
const STEP_MINUTES: usize = 2;
/// The labels Prometheus would add to every scraped series.
const TARGET: &str = r#"instance="tessera-1:8080",job="tessera""#;

/// One scrape: every sample (series text as exposed, value), or `None`
/// when the scrape failed.
type Scrape = Option<BTreeMap<String, String>>;

fn scrape(addr: &str) -> Scrape {
    let stream = std::net::TcpStream::connect(addr).ok()?;
    drop(stream);
    let (status, body) = request(addr, "GET", "/metrics", &[], "");
    assert_eq!(status, 200, "{body}");
    Some(parse_exposition(&body))
}

/// The samples of a Prometheus text exposition (no timestamps), with the
/// target's labels added as Prometheus would.
fn parse_exposition(text: &str) -> BTreeMap<String, String> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let series = match series.split_once('{') {
            Some((name, labels)) => format!("{name}{{{TARGET},{labels}"),
            None => format!("{series}{{{TARGET}}}"),
        };
        samples.insert(series, value.to_owned());
    }
    samples
}

#[test]
fn the_exposition_is_read_as_prometheus_would() {
    let samples = parse_exposition("# TYPE a counter\na 3\nb_bucket{le=\"0.5\",route=\"/x\"} 7\n");
    assert_eq!(samples[&format!("a{{{TARGET}}}")], "3");
    assert_eq!(
        samples[&format!("b_bucket{{{TARGET},le=\"0.5\",route=\"/x\"}}")],
        "7"
    );
}

/// promtool's input series: every series seen in any scrape, `_` where a
/// scrape did not have it, and `up` from whether each scrape worked.
fn input_series(scrapes: &[Scrape]) -> Vec<Value> {
    let names: BTreeSet<&String> = scrapes.iter().flatten().flat_map(|s| s.keys()).collect();
    let mut series: Vec<Value> = names
        .into_iter()
        .map(|name| {
            let values: Vec<&str> = scrapes
                .iter()
                .map(|s| {
                    s.as_ref()
                        .and_then(|s| s.get(name))
                        .map_or("_", String::as_str)
                })
                .collect();
            json!({"series": name, "values": values.join(" ")})
        })
        .collect();
    let up: Vec<&str> = scrapes
        .iter()
        .map(|s| if s.is_some() { "1" } else { "0" })
        .collect();
    series.push(json!({"series": format!("up{{{TARGET}}}"), "values": up.join(" ")}));
    series
}

/// The documented rules, as written in docs/operations.md.
fn documented_rules() -> String {
    let rules: Vec<String> = docs_support::blocks("docs/operations.md")
        .into_iter()
        .filter(|b| b.lang == "yaml" && b.text.contains("alert: TesseraSlowLookups"))
        .map(|b| b.text)
        .collect();
    assert_eq!(rules.len(), 1, "one block of alert rules in operations.md");
    rules.into_iter().next().unwrap()
}

/// The name of every alert of `rules`.
fn alert_names(rules: &str) -> Vec<String> {
    let rules: Value = serde_yaml::from_str(rules).unwrap();
    rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect()
}

/// The alert `name` of `rules` as promtool expects it when firing: its
/// labels (plus `extra`) and annotations.
fn firing(rules: &str, name: &str, extra: &[(&str, &str)]) -> Value {
    let rules: Value = serde_yaml::from_str(rules).unwrap();
    let rule = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alert"] == name)
        .unwrap_or_else(|| panic!("no rule {name}"));
    let mut labels = rule["labels"].clone();
    for (key, value) in extra {
        labels[*key] = json!(value);
    }
    json!({"exp_labels": labels, "exp_annotations": rule["annotations"]})
}

fn login(addr: &str, subject: &str) -> String {
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = request(
        addr,
        "POST",
        &format!("{BASE}/sessions"),
        &[("Authorization", &bearer)],
        &format!(r#"{{"sub":"{subject}"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    json_field(&body, "sid")
}

/// A request that may fail (the backend is down): its status.
fn attempt(addr: &str, method: &str, sid: &str, body: &str) -> u16 {
    let bearer = format!("Bearer {TOKEN}");
    request(
        addr,
        method,
        &format!("{BASE}/sessions"),
        &[("Authorization", &bearer), ("SID", sid)],
        body,
    )
    .0
}

fn lookups(addr: &str, sid: &str, times: usize) {
    for _ in 0..times {
        assert_eq!(attempt(addr, "GET", sid, ""), 200);
    }
}

/// `tessera serve` on the Redis at `port`, with a short command timeout.
fn serve_on(dir: &Path, port: u16) -> cli_support::Server {
    let settings = dir.join("settings.yml");
    std::fs::write(
        &settings,
        format!(
            "tokenizer:\n  type: redis\n  host: 127.0.0.1\n  port: {}\n  safe_password: \
             {PASSWORD}\n  command_timeout_ms: 1500\nsessionStore:\n  apiAccessTokenSHA256: {}\n",
            port,
            TokenHash::of(TOKEN)
        ),
    )
    .unwrap();
    let mut command = cli_support::tessera();
    command
        .env("HOME", dir)
        .arg("--config")
        .arg(&settings)
        .arg("serve");
    cli_support::serve(command)
}

#[test]
fn the_documented_alerts_fire_on_a_real_outage_and_only_then() {
    let scratch = tempfile::tempdir().unwrap();
    let mut redis = PrivateRedis::new(scratch.path(), false);
    redis.start();
    let mut server = serve_on(scratch.path(), redis.port);
    let addr = server.addr.clone();
    let mut scrapes = Vec::new();

    // Normal operation: 0 to 12 minutes, longer than any rule's `for`.
    let sid = login(&addr, "alice");
    for _ in 0..7 {
        login(&addr, "bob");
        lookups(&addr, &sid, 5);
        scrapes.push(scrape(&addr));
    }
    let normal_end = (scrapes.len() - 1) * STEP_MINUTES;

    // Redis pauses writes: every login waits about 600 ms, lookups (plain
    // reads) do not. 14 to 28 minutes.
    for _ in 0..8 {
        for _ in 0..3 {
            let paused = redis
                .cli()
                .args(["CLIENT", "PAUSE", "600", "WRITE"])
                .output()
                .unwrap();
            assert!(paused.status.success());
            login(&addr, "carol");
        }
        lookups(&addr, &sid, 10);
        scrapes.push(scrape(&addr));
    }
    let slow_end = (scrapes.len() - 1) * STEP_MINUTES;

    // Redis is down: every request answers 503. 30 to 36 minutes.
    redis.stop();
    for _ in 0..4 {
        for _ in 0..3 {
            assert_eq!(attempt(&addr, "GET", &sid, ""), 503);
            assert_eq!(attempt(&addr, "POST", "", r#"{"sub":"dave"}"#), 503);
        }
        scrapes.push(scrape(&addr));
    }
    let outage_end = (scrapes.len() - 1) * STEP_MINUTES;

    // The server is gone: its scrapes fail. 38 and 40 minutes.
    assert!(server.terminate(std::time::Duration::from_secs(10)));
    for _ in 0..2 {
        scrapes.push(scrape(&addr));
    }
    let gone_end = (scrapes.len() - 1) * STEP_MINUTES;

    let rules = documented_rules();
    let not_ready_labels = backend_up_labels(&scrapes);
    let not_ready_extra: Vec<(&str, &str)> = not_ready_labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let silent = |minutes: usize, name: &str| json!({"eval_time": format!("{minutes}m"), "alertname": name, "exp_alerts": []});
    let fires = |minutes: usize, name: &str, extra: &[(&str, &str)]| {
        json!({"eval_time": format!("{minutes}m"), "alertname": name,
               "exp_alerts": [firing(&rules, name, extra)]})
    };
    let login_route = r#"method="POST",route="/session-store/rest/v2/sessions""#;
    let test = json!({
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": format!("{STEP_MINUTES}m"),
            "input_series": input_series(&scrapes),
            "alert_rule_test": alert_names(&rules)
                .iter()
                .map(|name| silent(normal_end, name))
                .chain([
                silent(slow_end, "TesseraSlowLookups"),
                silent(slow_end, "TesseraNotReady"),
                fires(outage_end, "TesseraNotReady", &not_ready_extra),
                fires(outage_end, "TesseraBackendUnavailable", &[]),
                fires(gone_end, "TesseraDown", &[("instance", "tessera-1:8080"), ("job", "tessera")]),
                ])
                .collect::<Vec<_>>(),
            // The logins of the slow phase were slow: an alert that counted
            // them would have fired.
            "promql_expr_test": [{
                "expr": format!(
                    "histogram_quantile(0.99, sum by (le) (rate(\
                     tessera_http_request_duration_seconds_bucket{{{login_route}}}[5m]))) > bool 0.25"
                ),
                "eval_time": format!("{slow_end}m"),
                "exp_samples": [{"labels": "{}", "value": 1}],
            }],
        }],
    });
    std::fs::write(scratch.path().join("rules.yml"), &rules).unwrap();
    let test_file = scratch.path().join("alerts_test.yml");
    std::fs::write(&test_file, serde_yaml::to_string(&test).unwrap()).unwrap();
    promtool(scratch.path(), &["check", "rules", "rules.yml"]);
    promtool(scratch.path(), &["test", "rules", "alerts_test.yml"]);
}

/// The labels of `tessera_backend_up` in the first scrape.
fn backend_up_labels(scrapes: &[Scrape]) -> Vec<(String, String)> {
    let backend_up = scrapes[0]
        .as_ref()
        .unwrap()
        .keys()
        .find(|k| k.starts_with("tessera_backend_up{"))
        .expect("tessera_backend_up is exported")
        .clone();
    backend_up
        .trim_start_matches("tessera_backend_up{")
        .trim_end_matches('}')
        .split(',')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.to_owned(), v.trim_matches('"').to_owned())
        })
        .collect()
}

fn promtool(dir: &Path, args: &[&str]) {
    let out = Command::new(service_env("TESSERA_TEST_PROMTOOL_BIN"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool {}:\n{}\n{}\n(the test file is {})",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        dir.join(args.last().unwrap()).display()
    );
}

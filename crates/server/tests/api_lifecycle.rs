//! The session life cycle over real HTTP: create, look up, touch, update
//! with compare-and-set, list, end; quota both ways; the subject-wide
//! operations and purge.

mod api_support;

use api_support::{Options, START, TestServer, login};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera_core::OnQuotaExhaustion;

fn etag(response: &reqwest::Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
#[expect(clippy::too_many_lines, reason = "one session's story, told in order")]
async fn full_life_cycle() {
    let server = TestServer::start().await;
    let auth_time = START.as_secs() - 30;
    let (sid, id, created) = server
        .create(json!({
            "sub": "alice",
            "ctx": "web",
            "auth_time": auth_time,
            "max_life": 600,
            "auth_life": -1,
            "max_idle": 60,
            "acr": "urn:acr:pwd",
            "amr": ["pwd", "otp"],
            "claims": {"email": "alice@example.com"},
            "data": {"theme": "dark"},
            "credentials": {"user": "alice", "password": "hunter2"},
        }))
        .await;
    assert_eq!(sid.len(), 45);
    assert_eq!(id.len(), 69);
    assert_eq!(created["closed"], json!([]));
    let session = &created["session"];
    assert_eq!(session["sub"], "alice");
    assert_eq!(session["creation_time"], START.as_secs());
    assert_eq!(session["auth_time"], auth_time);
    assert_eq!(session["last_used"], START.as_secs());
    assert_eq!(session["max_life"], 600);
    assert_eq!(session["auth_life"], -1);
    assert_eq!(session["max_idle"], 60);
    assert_eq!(session["amr"], json!(["pwd", "otp"]));
    assert!(session.get("credentials").is_none());

    // A read touches the session and shows it with its id.
    server.clock.advance_millis(90_000);
    let response = server.get_by_sid(&sid, "").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response), "\"1\"");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let got: Value = response.json().await.unwrap();
    assert_eq!(got["id"], id);
    assert_eq!(got["claims"]["email"], "alice@example.com");
    assert_eq!(got["last_used"], START.as_secs() + 90);
    assert!(
        got.get("credentials").is_none(),
        "credentials only on request"
    );

    // skip_last_used_update leaves last_used alone.
    server.clock.advance_millis(60_000);
    let got: Value = server
        .get_by_sid(&sid, "?skip_last_used_update=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["last_used"], START.as_secs() + 90);

    // Credentials come back, opened, only when asked for.
    let got: Value = server
        .get_by_sid(&sid, "?credentials=true&skip_last_used_update=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["credentials"],
        json!({"user": "alice", "password": "hunter2"})
    );

    // Update with compare-and-set.
    let response = server
        .api(Method::PUT, "/sessions")
        .header("SID", &sid)
        .header("If-Match", "\"1\"")
        .json(&json!({"data": {"theme": "light"}, "acr": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response), "\"2\"");
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["data"], json!({"theme": "light"}));
    assert!(updated.get("acr").is_none(), "acr: null removes it");
    assert_eq!(
        updated["claims"]["email"], "alice@example.com",
        "claims kept"
    );

    // The subject listing shows the id, never the SID.
    let response = server
        .api(Method::GET, "/sessions?subject=alice")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(!text.contains(&sid));
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id);
    assert_eq!(listed[0]["session"]["data"]["theme"], "light");

    // Logout returns what was removed; the SID is dead afterwards.
    let response = server
        .api(Method::DELETE, "/sessions")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let removed: Value = response.json().await.unwrap();
    assert_eq!(removed["id"], id);
    assert_eq!(removed["sub"], "alice");
    assert_eq!(
        server.get_by_sid(&sid, "").await.status(),
        StatusCode::NOT_FOUND
    );
    let again = server
        .api(Method::DELETE, "/sessions")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn credentials_keep_their_json_form() {
    let server = TestServer::start().await;
    for credentials in [json!("a plain password"), json!({"k": [1, 2]}), Value::Null] {
        let (sid, _, _) = server
            .create(json!({"sub": "carol", "credentials": credentials}))
            .await;
        let got: Value = server
            .get_by_sid(&sid, "?credentials=true")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(got["credentials"], credentials);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_session_is_found_only_in_its_own_context() {
    let server = TestServer::start().await;
    let (sid, _, _) = server.create(json!({"sub": "dave", "ctx": "mobile"})).await;
    assert_eq!(
        server.get_by_sid(&sid, "?ctx=mobile").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        server.get_by_sid(&sid, "?ctx=web").await.status(),
        StatusCode::NOT_FOUND
    );
    server.stop().await;
}

#[tokio::test]
async fn a_sid_in_the_wrong_context_is_not_used_changed_or_ended() {
    let server = TestServer::start().await;
    let (sid, _, created) = server.create(json!({"sub": "dave", "ctx": "mobile"})).await;
    let last_used = created["session"]["last_used"].clone();
    server.clock.advance_minutes(5);

    assert_eq!(
        server.get_by_sid(&sid, "?ctx=web").await.status(),
        StatusCode::NOT_FOUND
    );
    let put = server
        .api(Method::PUT, "/sessions?ctx=web")
        .header("SID", &sid)
        .json(&json!({"data": {"theme": "dark"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::NOT_FOUND);
    let delete = server
        .api(Method::DELETE, "/sessions?ctx=web")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::NOT_FOUND);

    let untouched: Value = server
        .get_by_sid(&sid, "?skip_last_used_update=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        untouched["last_used"], last_used,
        "the wrong context moved last_used"
    );
    assert_eq!(
        untouched.get("data"),
        None,
        "the wrong context changed data"
    );

    let put = server
        .api(Method::PUT, "/sessions?ctx=mobile")
        .header("SID", &sid)
        .json(&json!({"data": {"theme": "dark"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let delete = server
        .api(Method::DELETE, "/sessions?ctx=mobile")
        .header("SID", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn quota_deny_login_refuses_the_new_login() {
    let server = TestServer::with(Options::quota(2, OnQuotaExhaustion::DenyLogin)).await;
    let (first, _, _) = server.create(login("erin")).await;
    let (second, _, _) = server.create(login("erin")).await;
    let response = server
        .api(Method::POST, "/sessions")
        .json(&login("erin"))
        .send()
        .await
        .unwrap();
    let description =
        api_support::expect_error(response, StatusCode::CONFLICT, "quota_exhausted").await;
    assert!(description.contains('2'), "{description}");
    for sid in [&first, &second] {
        assert_eq!(server.get_by_sid(sid, "").await.status(), StatusCode::OK);
    }
    // Another subject is not affected.
    server.create(login("frank")).await;
    server.stop().await;
}

#[tokio::test]
async fn quota_close_old_session_evicts_the_next_expiring() {
    let server = TestServer::with(Options::quota(2, OnQuotaExhaustion::CloseOldSession)).await;
    let (oldest, oldest_id, _) = server.create(login("gina")).await;
    server.clock.advance_millis(1_000);
    let (middle, _, _) = server.create(login("gina")).await;
    server.clock.advance_millis(1_000);
    let (newest, _, answer) = server.create(login("gina")).await;
    assert_eq!(answer["closed"], json!([oldest_id]));
    assert_eq!(
        server.get_by_sid(&oldest, "").await.status(),
        StatusCode::NOT_FOUND
    );
    for sid in [&middle, &newest] {
        assert_eq!(server.get_by_sid(sid, "").await.status(), StatusCode::OK);
    }
    server.stop().await;
}

#[tokio::test]
async fn list_and_end_by_subject_and_context() {
    let server = TestServer::start().await;
    server.create(json!({"sub": "hal", "ctx": "web"})).await;
    server.create(json!({"sub": "hal", "ctx": "web"})).await;
    let (mobile, mobile_ref, _) = server.create(json!({"sub": "hal", "ctx": "mobile"})).await;
    let (other_sid, _, _) = server.create(login("ivy")).await;

    let list = |query: &'static str| {
        let request = server.api(Method::GET, &format!("/sessions?{query}"));
        async move {
            let v: Value = request.send().await.unwrap().json().await.unwrap();
            v.as_array().unwrap().len()
        }
    };
    assert_eq!(list("subject=hal").await, 3);
    assert_eq!(list("subject=hal&ctx=mobile").await, 1);
    assert_eq!(list("subject=nobody").await, 0);

    let response = server
        .api(Method::DELETE, "/sessions?subject=hal&ctx=web")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let ended: Value = response.json().await.unwrap();
    assert_eq!(ended["removed"], 2);
    assert_eq!(ended["ids"].as_array().unwrap().len(), 2);
    assert!(
        !ended["ids"]
            .as_array()
            .unwrap()
            .contains(&json!(mobile_ref))
    );
    assert_eq!(list("subject=hal").await, 1);
    assert_eq!(
        server.get_by_sid(&mobile, "").await.status(),
        StatusCode::OK
    );

    let ended: Value = server
        .api(Method::DELETE, "/sessions?subject=hal")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ended, json!({"removed": 1, "ids": [mobile_ref]}));
    assert_eq!(
        server.get_by_sid(&other_sid, "").await.status(),
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test]
async fn an_admin_ends_one_session_by_id() {
    let server = TestServer::start().await;
    let (sid, id, _) = server.create(login("jo")).await;
    let response = server
        .api(Method::DELETE, &format!("/sessions?id={id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let removed: Value = response.json().await.unwrap();
    assert_eq!(removed["id"], id);
    assert_eq!(
        server.get_by_sid(&sid, "").await.status(),
        StatusCode::NOT_FOUND
    );
    let again = server
        .api(Method::DELETE, &format!("/sessions?id={id}"))
        .send()
        .await
        .unwrap();
    api_support::expect_error(again, StatusCode::NOT_FOUND, "not_found").await;
    server.stop().await;
}

#[tokio::test]
async fn subject_auth_life_updates_every_session_of_the_subject() {
    let server = TestServer::start().await;
    let (a, _, _) = server.create(login("kim")).await;
    let (b, _, _) = server.create(json!({"sub": "kim", "ctx": "mobile"})).await;
    let (other, _, _) = server.create(login("lou")).await;
    server.clock.advance_millis(120_000);
    let response = server
        .api(Method::PUT, "/sessions/subject-auth-life")
        .json(&json!({"sub": "kim", "auth_life": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["updated"], 2);
    for listed in answer["sessions"].as_array().unwrap() {
        assert_eq!(listed["session"]["auth_time"], START.as_secs() + 120);
        assert_eq!(listed["session"]["auth_life"], 5);
    }
    // Five minutes after that authentication, kim's sessions are over.
    server.clock.advance_millis(5 * 60_000);
    for sid in [&a, &b] {
        assert_eq!(
            server.get_by_sid(sid, "").await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(server.get_by_sid(&other, "").await.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn purge_reports_what_it_removed() {
    let server = TestServer::start().await;
    server.create(json!({"sub": "max", "max_idle": 1})).await;
    server.create(json!({"sub": "max", "max_idle": 1})).await;
    let (kept, _, _) = server.create(json!({"sub": "ned", "max_idle": 60})).await;
    server.clock.advance_millis(2 * 60_000);
    let response = server.api(Method::POST, "/purge").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["sessions"], 2);
    assert!(report["index_entries"].is_u64());
    assert_eq!(server.get_by_sid(&kept, "").await.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn if_match_compare_and_set() {
    let server = TestServer::start().await;
    let (sid, _, _) = server.create(login("olga")).await;
    let put = |if_match: Option<&str>, data: Value| {
        let mut request = server
            .api(Method::PUT, "/sessions")
            .header("SID", &sid)
            .json(&json!({ "data": data }));
        if let Some(tag) = if_match {
            request = request.header("If-Match", tag);
        }
        request.send()
    };
    let first = put(Some("\"1\""), json!({"n": 1})).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(etag(&first), "\"2\"");
    let stale = put(Some("\"1\""), json!({"n": 2})).await.unwrap();
    api_support::expect_error(
        stale,
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
    )
    .await;
    let weak = put(Some("W/\"2\""), json!({"n": 2})).await.unwrap();
    assert_eq!(weak.status(), StatusCode::PRECONDITION_FAILED);
    let any = put(Some("*"), json!({"n": 3})).await.unwrap();
    assert_eq!(etag(&any), "\"3\"");
    let unconditional = put(None, json!({"n": 4})).await.unwrap();
    assert_eq!(etag(&unconditional), "\"4\"");
    let got: Value = server.get_by_sid(&sid, "").await.json().await.unwrap();
    assert_eq!(
        got["data"],
        json!({"n": 4}),
        "the stale write changed nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn one_hundred_concurrent_puts_with_one_etag_one_wins() {
    let server = TestServer::start().await;
    let (sid, _, _) = server.create(login("pat")).await;
    let response = server.get_by_sid(&sid, "").await;
    let tag = etag(&response);
    let requests = (0..100).map(|i| {
        server
            .api(Method::PUT, "/sessions")
            .header("SID", &sid)
            .header("If-Match", &tag)
            .json(&json!({ "data": { "writer": i } }))
            .send()
    });
    let responses = futures::future::join_all(requests).await;
    let mut ok = 0;
    let mut stale = 0;
    for response in responses {
        match response.unwrap().status() {
            StatusCode::OK => ok += 1,
            StatusCode::PRECONDITION_FAILED => stale += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, stale), (1, 99));
    let response = server.get_by_sid(&sid, "").await;
    assert_eq!(etag(&response), "\"2\"");
    server.stop().await;
}

#[tokio::test]
async fn put_without_a_body_field_still_needs_json() {
    let server = TestServer::start().await;
    let (sid, _, _) = server.create(login("quinn")).await;
    let response = server
        .api(Method::PUT, "/sessions")
        .header("SID", &sid)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

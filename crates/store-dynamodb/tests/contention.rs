//! Concurrent creates of one subject through one store take turns instead
//! of racing for the subject index, so a burst of logins does not burn
//! through `create_attempts` and fail as unavailable.

mod common;

use std::sync::Arc;

use tessera_core::{OnQuotaExhaustion, Subject, Timestamp};
use tessera_store::SessionStore;
use tessera_store::testkit::{policy, session, session_ref};
use tessera_store_dynamodb::DynamoDbStore;

fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    Timestamp::from_secs(secs.try_into().expect("fits"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stores_concurrent_creates_of_a_subject_never_race() {
    let (_, mut config) = common::fresh_store("turns").await;
    // No second attempt: a create that lost a race for the index would be
    // Unavailable at once.
    config.create_attempts = 1;
    let store = Arc::new(DynamoDbStore::open(&config).await.expect("connect"));
    let t0 = now();
    let logins: Vec<_> = (0..40)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let p = policy(5, OnQuotaExhaustion::CloseOldSession);
                let s = session("una", "web", t0, 60 + i, -1, -1);
                store.create(&session_ref("una"), &s, &p, t0).await
            })
        })
        .collect();
    let mut closed = 0;
    for login in logins {
        let created = login
            .await
            .expect("no panic")
            .expect("every create succeeds");
        closed += created.closed.len();
    }
    assert_eq!(closed, 35);
    let una = Subject::new("una").expect("subject");
    let live = store.list_by_subject(&una, None, t0).await.expect("list");
    assert_eq!(live.len(), 5);
}

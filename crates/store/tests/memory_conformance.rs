//! The memory store passes the conformance suite.

use std::sync::Arc;

use tessera_store::MemoryStore;
use tessera_store::testkit::{Fixture, next_format_record};

async fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let raw = Arc::clone(&store);
    let ahead = Arc::clone(&store);
    Fixture {
        store,
        corrupt: Box::new(move |id| {
            raw.write_raw(&id, b"{\"format\":1,\"sub\":".to_vec());
            Box::pin(async {})
        }),
        newer: Box::new(move |id| {
            ahead.write_raw(&id, next_format_record());
            Box::pin(async {})
        }),
    }
}

tessera_store::conformance_tests!(fixture);

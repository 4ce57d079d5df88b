//! The memory store passes the conformance suite.

use std::sync::Arc;

use tessera_store::MemoryStore;
use tessera_store::backend::record;
use tessera_store::testkit::{Fixture, RawAccess, nested_record, next_format_record};

async fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let raw = Arc::clone(&store);
    let ahead = Arc::clone(&store);
    let (reader, writer) = (Arc::clone(&store), Arc::clone(&store));
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
        raw: RawAccess {
            read: Box::new(move |id| {
                let found = reader.read_raw(&id);
                Box::pin(async move { found })
            }),
            write: Box::new(move |id, bytes| {
                writer.write_raw(&id, bytes);
                Box::pin(async { true })
            }),
            encode: record::encode,
            encode_nested: nested_record,
        },
    }
}

tessera_store::conformance_tests!(fixture);

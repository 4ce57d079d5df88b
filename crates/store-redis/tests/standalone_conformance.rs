//! The Redis store passes the conformance suite on a standalone
//! redis-server (started by `cargo xtask test`), each test under a key
//! prefix of its own.

mod common;

async fn fixture() -> tessera_store::testkit::Fixture {
    common::fixture(common::standalone_config()).await
}

tessera_store::conformance_tests!(fixture);

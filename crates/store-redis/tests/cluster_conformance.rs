//! The Redis store passes the conformance suite on a 3-primary Redis
//! Cluster (started by `cargo xtask test`): every script is single-slot.

mod common;

async fn fixture() -> tessera_store::testkit::Fixture {
    common::fixture(common::cluster_config()).await
}

tessera_store::conformance_tests!(fixture);

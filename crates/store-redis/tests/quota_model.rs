//! The create script's quota decision is exactly `tessera_core::decide`:
//! random subjects, lifetimes (with many ties), touches, quotas and key
//! generations (sessions signed by a key no longer held do not count),
//! each compared with the decision core takes on the same sessions.

mod common;

use tessera_core::{Existing, KeyGeneration, OnQuotaExhaustion, QuotaDecision, Signers, Timestamp};
use tessera_store::testkit::{policy, session, session_ref};
use tessera_store::{Clock as _, SessionStore, StoreError, SystemClock, Touch};
use tessera_store_redis::RedisStore;

const MIN: i64 = 60_000;

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }

    fn lifetime(&mut self) -> i64 {
        // Few distinct values, so expiries tie often; -1 is unlimited.
        [-1, 2, 3, 3, 5][usize::try_from(self.below(5)).expect("small")]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_decides_like_core() {
    let store = RedisStore::open(&common::standalone_config())
        .await
        .expect("connects");
    let mut rng = Rng(0x7e55_e7a5_eed5_0001);
    let t0 = Timestamp::from_secs(SystemClock.now().as_secs());
    let roomy = policy(25, OnQuotaExhaustion::DenyLogin);
    let (mut admitted, mut closing, mut denied, mut ties) = (0, 0, 0, 0);
    for case in 0..150 {
        let who = format!("model-{case}");
        let mut existing = Vec::new();
        for _ in 0..rng.below(8) {
            let id = session_ref(&who);
            let (life, idle) = (rng.lifetime(), rng.lifetime());
            let mut s = session(
                &who,
                if rng.below(2) == 0 { "web" } else { "app" },
                t0,
                life,
                -1,
                idle,
            );
            // Signed by the held generation 1, the dropped generation 2,
            // or unrecorded.
            s.signer = [
                None,
                Some(KeyGeneration::new(1)),
                Some(KeyGeneration::new(2)),
            ][usize::try_from(rng.below(3)).expect("small")];
            store.create(&id, &s, &roomy, t0).await.expect("existing");
            existing.push((id, s));
        }
        // Touch some of them a minute in: their idle expiry moves.
        let touched_at = Timestamp::from_millis(t0.as_millis() + MIN);
        for (id, s) in &mut existing {
            if rng.below(3) == 0
                && let Some(t) = store
                    .get_and_touch(id, touched_at, Touch::Yes)
                    .await
                    .expect("touch")
            {
                *s = t;
            }
        }
        let now = Timestamp::from_millis(
            t0.as_millis() + MIN + i64::try_from(rng.below(4)).expect("small") * MIN,
        );
        let rule = if rng.below(2) == 0 {
            OnQuotaExhaustion::DenyLogin
        } else {
            OnQuotaExhaustion::CloseOldSession
        };
        let mut p = policy(i64::try_from(rng.below(6) + 1).expect("small"), rule);
        if rng.below(3) != 0 {
            p.signers = Signers::new([KeyGeneration::new(1), KeyGeneration::new(3)])
                .expect("two generations");
        }
        let candidates: Vec<Existing<_>> = existing
            .iter()
            .map(|(id, s)| Existing {
                key: *id,
                expiry: s.expiry(),
                signer: s.signer,
            })
            .collect();
        let expected = tessera_core::decide(&candidates, &p, now);
        let mut live: Vec<_> = candidates
            .iter()
            .filter(|c| !c.expiry.has_passed(now) && p.signers.counts(c.signer))
            .map(|c| c.expiry)
            .collect();
        live.sort();
        if live.windows(2).any(|w| w[0] == w[1]) {
            ties += 1;
        }
        let new = session(&who, "web", now, 60, -1, -1);
        let got = store.create(&session_ref(&who), &new, &p, now).await;
        match (expected, got) {
            (QuotaDecision::Admit, Ok(created)) => {
                admitted += 1;
                assert!(
                    created.closed.is_empty(),
                    "case {case}: closed {:?}",
                    created.closed
                );
            }
            (QuotaDecision::AdmitAfterClosing(want), Ok(created)) => {
                closing += 1;
                assert_eq!(created.closed, want, "case {case}");
            }
            (QuotaDecision::Deny, Err(StoreError::QuotaExhausted { .. })) => denied += 1,
            (want, got) => panic!("case {case}: core decided {want:?}, the script {got:?}"),
        }
    }
    // The cases cover every outcome, and expiry ties among live sessions.
    assert!(
        admitted > 10 && closing > 10 && denied > 10 && ties > 10,
        "admitted {admitted}, closing {closing}, denied {denied}, ties {ties}"
    );
}

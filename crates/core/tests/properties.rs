//! Property tests of expiry, touch, the quota decision and the JSON form.

use proptest::prelude::*;
use tessera_core::{
    Context, Existing, Expiry, Lifetime, OnQuotaExhaustion, Policy, Quota, QuotaDecision, Session,
    Subject, Timestamp, decide,
};

const MINUTE: i64 = 60_000;

fn lifetime() -> impl Strategy<Value = Lifetime> {
    prop_oneof![
        1 => Just(Lifetime::Unlimited),
        4 => (1u32..=100_000).prop_map(Lifetime::minutes_const),
    ]
}

prop_compose! {
    /// A session with arbitrary terms, times in whole seconds so the JSON
    /// form (seconds) round-trips exactly.
    fn session()(
        created in 0i64..4_000_000_000,
        auth_before in 0i64..1_000_000,
        used_after in 0i64..1_000_000,
        max_life in lifetime(), auth_life in lifetime(), max_idle in lifetime(),
        sub in "[a-z@.]{1,40}",
        acr in proptest::option::of("[a-z:]{1,20}"),
        amr in proptest::collection::vec("[a-z]{1,8}", 0..3),
        n in 0u32..1000,
    ) -> Session {
        let creation = Timestamp::from_secs(created);
        Session {
            subject: Subject::new(sub).unwrap(),
            context: Context::default(),
            creation_time: creation,
            auth_time: Timestamp::from_secs(created - auth_before),
            last_used: Timestamp::from_secs(created + used_after),
            max_life, auth_life, max_idle, acr, amr,
            claims: serde_json::json!({"n": n}).as_object().unwrap().clone(),
            data: serde_json::Map::new(),
            credentials: None,
            version: 1,
            signer: None,
            record_mac: None,
        }
    }
}

fn term(start: Timestamp, l: Lifetime) -> Option<Timestamp> {
    l.minutes()
        .map(|m| start.plus_millis(i64::from(m.get()) * MINUTE))
}

proptest! {
    #[test]
    fn expiry_is_the_minimum_of_the_active_terms(s in session()) {
        let terms = [
            term(s.creation_time, s.max_life),
            term(s.auth_time, s.auth_life),
            term(s.last_used, s.max_idle),
        ];
        let expected = terms.iter().flatten().min().copied();
        prop_assert_eq!(s.expiry(), Expiry::from_option(expected));
    }

    #[test]
    fn unlimited_terms_never_expire(mut s in session(), later in 0i64..i64::MAX / 2) {
        s.max_life = Lifetime::Unlimited;
        s.auth_life = Lifetime::Unlimited;
        s.max_idle = Lifetime::Unlimited;
        prop_assert_eq!(s.expiry(), Expiry::Never);
        prop_assert!(!s.is_expired(Timestamp::from_millis(later)));
    }

    #[test]
    fn expired_exactly_from_the_expiry_instant(s in session()) {
        if let Expiry::At(t) = s.expiry() {
            prop_assert!(!s.is_expired(t.plus_millis(-1)));
            prop_assert!(s.is_expired(t));
        }
    }

    #[test]
    fn touching_never_moves_expiry_past_the_hard_limits(
        mut s in session(), steps in proptest::collection::vec(0i64..10_000_000, 1..10),
    ) {
        let hard = s.hard_expiry();
        let mut now = s.last_used;
        for step in steps {
            now = now.plus_millis(step);
            let before = s.last_used;
            s.touch(now);
            prop_assert!(s.last_used >= before, "touch moved last_used backwards");
            prop_assert!(s.expiry() <= hard);
        }
    }

    #[test]
    fn touching_in_the_past_changes_nothing(mut s in session(), back in 1i64..1_000_000) {
        let before = s.clone();
        s.touch(s.last_used.plus_millis(-back));
        prop_assert_eq!(s, before);
    }

    #[test]
    fn json_round_trips(s in session()) {
        let json = serde_json::to_string(&s).unwrap();
        let back: Session = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn quota_decision_is_sound(
        expiries in proptest::collection::vec(prop_oneof![
            9 => (0i64..1_000).prop_map(|m| Expiry::At(Timestamp::from_millis(m * MINUTE))),
            1 => Just(Expiry::Never),
        ], 0..40),
        now_min in 0i64..1_000,
        quota in 1i64..=25,
        close in any::<bool>(),
    ) {
        let now = Timestamp::from_millis(now_min * MINUTE);
        let policy = Policy {
            quota_per_subject: Quota::new("quotaPerSubject", quota).unwrap(),
            on_quota_exhaustion: if close {
                OnQuotaExhaustion::CloseOldSession
            } else {
                OnQuotaExhaustion::DenyLogin
            },
            ..Policy::default()
        };
        let existing: Vec<Existing<usize>> = expiries
            .iter()
            .enumerate()
            .map(|(key, &expiry)| Existing {
                key,
                expiry,
                signer: None,
            })
            .collect();
        let live: Vec<&Existing<usize>> =
            existing.iter().filter(|e| !e.expiry.has_passed(now)).collect();
        let quota = usize::try_from(quota).unwrap();
        match decide(&existing, &policy, now) {
            QuotaDecision::Admit => prop_assert!(live.len() < quota),
            QuotaDecision::Deny => {
                prop_assert!(!close);
                prop_assert!(live.len() >= quota);
            }
            QuotaDecision::AdmitAfterClosing(closed) => {
                prop_assert!(close);
                // Never admits more than the quota: what stays plus the new one fits.
                prop_assert_eq!(live.len() - closed.len() + 1, quota);
                // Never closes an expired session, never closes one twice.
                let mut seen = std::collections::BTreeSet::new();
                for k in &closed {
                    prop_assert!(!existing[*k].expiry.has_passed(now));
                    prop_assert!(seen.insert(*k));
                }
                // Every closed session expires no later than every kept one.
                let latest_closed = closed.iter().map(|k| existing[*k].expiry).max().unwrap();
                for e in live.iter().filter(|e| !seen.contains(&e.key)) {
                    prop_assert!(e.expiry >= latest_closed);
                }
            }
        }
    }
}

use tessera_core::{Policy, SessionParams};

use super::*;

#[test]
fn limits_are_milliseconds_with_minus_one_for_unlimited() {
    let mut p = SessionParams::new(Subject::new("a").unwrap());
    p.max_life = Some(Lifetime::minutes_const(10));
    p.auth_life = Some(Lifetime::Unlimited);
    p.max_idle = Some(Lifetime::Unlimited);
    let now = Timestamp::from_millis(1_000);
    let s = Session::start(p, &Policy::default(), now).unwrap();
    assert_eq!(
        Limits::of(&s),
        Limits {
            last_used: "1000".into(),
            max_idle: "-1".into(),
            hard_expiry: (1_000 + 10 * 60_000).to_string(),
        }
    );
}

/// The map as the scripts write it (they write the body as a str; the
/// tests against Redis read that back).
fn as_scripts_write(session: &Session) -> Vec<u8> {
    #[derive(Serialize)]
    struct Written<'a> {
        l: i64,
        m: i64,
        h: i64,
        v: u64,
        s: &'a str,
        c: &'a str,
        b: serde_bytes::ByteBuf,
    }
    let limits = Limits::of(session);
    let mut value = MAGIC.to_vec();
    value.push(FORMAT);
    value.extend(
        rmp_serde::to_vec_named(&Written {
            l: session.last_used.as_millis(),
            m: limits.max_idle.parse().unwrap(),
            h: limits.hard_expiry.parse().unwrap(),
            v: session.version,
            s: "AAAAAAAAAAAAAAAAAAAAAA",
            c: session.context.as_str(),
            b: serde_bytes::ByteBuf::from(body(session)),
        })
        .unwrap(),
    );
    value
}

#[test]
fn a_session_reads_back_as_written_and_the_auth_time_is_kept_only_when_it_differs() {
    let mut p = SessionParams::new(Subject::new("ada").unwrap());
    p.max_life = Some(Lifetime::minutes_const(600));
    p.auth_life = Some(Lifetime::minutes_const(60));
    p.max_idle = Some(Lifetime::minutes_const(30));
    let now = Timestamp::from_millis(1_700_000_000_000);
    let mut s = Session::start(p, &Policy::default(), now).unwrap();
    s.data.insert("theme".into(), Value::from("dark"));
    let read = decode(&as_scripts_write(&s)).unwrap();
    assert_eq!(read, s);
    let names: Vec<String> =
        rmp_serde::from_slice::<std::collections::BTreeMap<String, Value>>(&body(&s))
            .unwrap()
            .into_keys()
            .collect();
    assert_eq!(
        names,
        ["al", "c", "d", "ml", "s"],
        "no `a`: it is the creation time"
    );

    s.auth_time = Timestamp::from_millis(now.as_millis() - 5_000);
    let read = decode(&as_scripts_write(&s)).unwrap();
    assert_eq!(read.auth_time, s.auth_time);
}

#[test]
fn format_is_read_from_the_header_alone() {
    assert_eq!(format_of(b"TS\x02\x80"), Some(2));
    assert_eq!(format_of(&next_format_value()), Some(FORMAT + 1));
    assert_eq!(format_of(b"TS"), None);
    assert_eq!(format_of(b"{\"format\":1"), None);
    assert!(matches!(
        decode(&next_format_value()),
        Err(StoreError::UnsupportedFormat {
            found: 3,
            supported: 2
        })
    ));
    assert!(matches!(
        decode(b"TS\x02garbage"),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(decode(b"TS\x01"), Err(StoreError::Corrupt { .. })));
}

/// The key expiry a create writes is the one the scripts compute
/// (`tessera_expiry`): the earlier of the hard expiry and the idle end,
/// none when both are unlimited, never before 1 ms.
#[test]
fn key_expiry_is_the_earlier_end_as_the_scripts_compute_it() {
    let start = |life: Lifetime, idle: Lifetime, at: i64| {
        let mut p = SessionParams::new(Subject::new("a").unwrap());
        p.max_life = Some(life);
        p.auth_life = Some(Lifetime::Unlimited);
        p.max_idle = Some(idle);
        Session::start(p, &Policy::default(), Timestamp::from_millis(at)).unwrap()
    };
    let ten = Lifetime::minutes_const(10);
    let three = Lifetime::minutes_const(3);
    let unlimited = Lifetime::Unlimited;
    assert_eq!(
        key_expiry(&start(ten, three, 1_000)),
        Some(1_000 + 3 * 60_000)
    );
    assert_eq!(
        key_expiry(&start(three, ten, 1_000)),
        Some(1_000 + 3 * 60_000)
    );
    assert_eq!(
        key_expiry(&start(ten, unlimited, 1_000)),
        Some(1_000 + 10 * 60_000)
    );
    assert_eq!(
        key_expiry(&start(unlimited, ten, 1_000)),
        Some(1_000 + 10 * 60_000)
    );
    assert_eq!(key_expiry(&start(unlimited, unlimited, 1_000)), None);
    assert_eq!(key_expiry(&start(three, three, -10 * 60_000)), Some(1));
    assert_eq!(
        index_score(&start(ten, three, 1_000)),
        (1_000 + 10 * 60_000).to_string()
    );
    assert_eq!(index_score(&start(unlimited, three, 1_000)), "+inf");
}

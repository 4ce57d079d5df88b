//! Any bytes read back from a backend: decoding never panics, and whatever
//! decodes re-encodes to a record that decodes to the same session.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_store::backend::record;

fuzz_target!(|data: &[u8]| {
    if let Ok(session) = record::decode(data) {
        let again = record::decode(&record::encode(&session)).expect("re-encoded record decodes");
        assert_eq!(again, session);
    }
});

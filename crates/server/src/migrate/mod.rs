//! Reading the stores of the products Tessera replaces, so their live
//! sessions can be imported and signed-in users stay signed in.
//!
//! Public for programs that move sessions from a tokenizer store
//! themselves, with [`import`](crate::import), and for the tests.
//!
//! Each reader yields, per record, either an import record (one JSON Lines
//! object of `tessera sessions import`: `{"sid", "session", "credentials"}`)
//! or the reason it was skipped. Readers never write to the source, never
//! log a token or credentials, and never put them in an error.

pub mod tokenizer;

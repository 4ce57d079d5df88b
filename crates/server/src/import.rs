//! Moving sessions in: import records, one per session, from another system.
//!
//! Public for programs that read another store themselves and import what
//! they read (`tessera sessions import` is one).
//!
//! A record is a JSON object
//! `{"sid": "<the SID the client holds>", "session": {…}}` where `session`
//! is the session object as `GET /sessions` returns it (`sub`, `ctx`, the
//! times in Unix seconds, the lifetimes in minutes, `acr`, `amr`, `claims`,
//! `data`; an `id` is ignored) plus optional `credentials`, plaintext JSON as
//! `POST /sessions` takes them, sealed here under this deployment's keys.
//!
//! [`import_records`] takes records already parsed, each with the number of
//! the line (or item) it came from, so every producer shares one importer:
//! `tessera sessions import` reads JSON Lines, and a reader of the
//! tokenizer's stores can produce the same records. Nothing in a report
//! quotes a SID or a credential.

use std::fmt;

use serde_json::{Map, Value};
use tessera_core::Session;
use tessera_store::{Imported, Sessions, SessionsError, StoreError};
use zeroize::Zeroizing;

use crate::json_error;

/// What an import did, line by line where it matters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Sessions stored.
    pub imported: u64,
    /// Sessions already stored under their SID (a repeated import).
    pub already_present: u64,
    /// Sessions that had already ended; skipped.
    pub expired: u64,
    /// Sessions imported by an earlier run that have ended since (logged
    /// out, deleted, revoked, expired); skipped, never brought back.
    pub ended_since: u64,
    /// Sessions refused because their subject was at its quota
    /// (`DENY_LOGIN`), by line.
    pub refused_by_quota: Vec<usize>,
    /// Sessions of the subject closed to make room (`CLOSE_OLD_SESSION`).
    pub closed: u64,
    /// Sessions stored under a legacy SID (usable only while
    /// `sessionStore.acceptLegacySIDs` is on).
    pub legacy: u64,
    /// Lines that could not be imported, with the reason.
    pub bad: Vec<BadLine>,
}

/// A line that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The line (or item) number the producer gave.
    pub line: usize,
    /// What was wrong; never quotes a SID or a credential.
    pub reason: String,
}

impl fmt::Display for BadLine {
    /// The reason with any control character escaped (`\u{1b}`), so that no
    /// input can act on the terminal that shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, Printable(&self.reason))
    }
}

/// Control characters, and the invisible ones that reorder, hide or break
/// text: bidirectional marks, overrides and isolates (U+061C, U+200E/F,
/// U+202A–E, U+2066–9), zero-width characters and the word joiner family
/// (U+200B–D, U+2060–4, U+FEFF), the soft hyphen and the line and
/// paragraph separators (U+2028/9).
fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00ad}'
                | '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// Text from outside (a file, a foreign store) made safe to print: control
/// characters, which a terminal would act on, are written escaped.
#[derive(Debug, Clone, Copy)]
pub struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if is_unprintable(c) {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

impl ImportReport {
    /// Records a line the producer could not turn into a record (not JSON,
    /// not UTF-8, ...).
    pub fn bad_line(&mut self, line: usize, reason: impl Into<String>) {
        self.bad.push(BadLine {
            line,
            reason: reason.into(),
        });
    }

    /// Whether any line failed (a refusal by the quota is not a failure).
    pub fn has_failures(&self) -> bool {
        !self.bad.is_empty()
    }

    /// The one-line summary: every count, in a fixed order.
    pub fn summary(&self) -> String {
        format!(
            "imported {}, already present {}, expired {}, ended since an earlier import {}, \
             refused by quota {}, bad {}",
            self.imported,
            self.already_present,
            self.expired,
            self.ended_since,
            self.refused_by_quota.len(),
            self.bad.len()
        )
    }
}

/// What happened to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Stored.
    Imported,
    /// Already stored under its SID.
    AlreadyPresent,
    /// Already ended; skipped.
    Expired,
    /// Imported by an earlier run and ended since; skipped.
    EndedSince,
    /// Refused by the subject's quota.
    RefusedByQuota,
    /// Not imported: a bad record or a backend error.
    Bad,
}

impl Outcome {
    /// Whether the session is now in the store or has ended (so the record
    /// it came from can go from its source without losing a session).
    #[must_use]
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Self::Imported | Self::AlreadyPresent | Self::Expired | Self::EndedSince
        )
    }
}

/// The importer: takes records one at a time, so a producer can stream
/// them (a file line by line) and memory stays bounded whatever the input's
/// size, and keeps the report.
pub struct Importer<'a> {
    sessions: &'a Sessions,
    report: ImportReport,
}

impl<'a> Importer<'a> {
    /// An importer into `sessions` with an empty report.
    #[must_use]
    pub fn new(sessions: &'a Sessions) -> Self {
        Self {
            sessions,
            report: ImportReport::default(),
        }
    }

    /// Imports one record (the producer's line or item number, parsed
    /// JSON), counts what happened to it and returns that. A bad record is
    /// reported on its line; so is a backend error, and the import goes on.
    pub async fn import(&mut self, line: usize, record: Value) -> Outcome {
        let report = &mut self.report;
        match import_one(self.sessions, record).await {
            Ok((imported, legacy)) => match imported {
                Imported::Created(created) => {
                    report.imported += 1;
                    report.closed += created.closed.len() as u64;
                    report.legacy += u64::from(legacy);
                    Outcome::Imported
                }
                Imported::AlreadyPresent => {
                    report.already_present += 1;
                    Outcome::AlreadyPresent
                }
                Imported::Expired => {
                    report.expired += 1;
                    Outcome::Expired
                }
                Imported::EndedSince => {
                    report.ended_since += 1;
                    Outcome::EndedSince
                }
            },
            Err(LineError::Quota) => {
                report.refused_by_quota.push(line);
                Outcome::RefusedByQuota
            }
            Err(LineError::Bad(reason)) => {
                report.bad_line(line, reason);
                Outcome::Bad
            }
        }
    }

    /// Records a line the producer could not turn into a record.
    pub fn bad_line(&mut self, line: usize, reason: impl Into<String>) {
        self.report.bad_line(line, reason);
    }

    /// The report so far.
    #[must_use]
    pub fn report(&self) -> &ImportReport {
        &self.report
    }

    /// The final report.
    #[must_use]
    pub fn finish(self) -> ImportReport {
        self.report
    }
}

/// Imports `records` (line number, parsed JSON) through `sessions`, one at a
/// time, and reports what happened to each: [`Importer`] over a sequence.
pub async fn import_records<I>(sessions: &Sessions, records: I) -> ImportReport
where
    I: IntoIterator<Item = (usize, Value)>,
{
    let mut importer = Importer::new(sessions);
    for (line, record) in records {
        importer.import(line, record).await;
    }
    importer.finish()
}

enum LineError {
    Quota,
    Bad(String),
}

impl From<String> for LineError {
    fn from(reason: String) -> Self {
        Self::Bad(reason)
    }
}

impl From<&str> for LineError {
    fn from(reason: &str) -> Self {
        Self::Bad(reason.to_owned())
    }
}

async fn import_one(sessions: &Sessions, record: Value) -> Result<(Imported, bool), LineError> {
    let Value::Object(mut record) = record else {
        return Err("not a JSON object".into());
    };
    let sid = match record.remove("sid") {
        Some(Value::String(sid)) => Zeroizing::new(sid),
        Some(_) => return Err("`sid` is not a string".into()),
        None => return Err("no `sid`".into()),
    };
    let session = match record.remove("session") {
        Some(Value::Object(session)) => session,
        Some(_) => return Err("`session` is not an object".into()),
        None => return Err("no `session`".into()),
    };
    if let Some(unknown) = record.keys().next() {
        return Err(if json_error::is_field_name(unknown) {
            format!("unknown field `{unknown}` (expected `sid` and `session`)")
        } else {
            "an unknown field (expected `sid` and `session`)".to_owned()
        }
        .into());
    }
    let (session, credentials) = parse_session(session)?;
    match sessions
        .import(&sid, session, credentials.as_deref().map(Vec::as_slice))
        .await
    {
        Ok(outcome) => Ok((outcome.imported, outcome.legacy)),
        Err(SessionsError::Store(StoreError::QuotaExhausted { .. })) => Err(LineError::Quota),
        Err(SessionsError::InvalidSid(e)) => Err(format!(
            "`sid` is neither a Tessera SID that verifies under the configured keys nor a \
             legacy SID (20 to 128 characters of A-Z a-z 0-9 - _ .): {e}"
        )
        .into()),
        Err(SessionsError::Store(StoreError::Invalid(e))) => Err(format!("`session`: {e}").into()),
        Err(SessionsError::Store(StoreError::AlreadyExists)) => {
            Err("a live session of another subject was already imported under this SID".into())
        }
        Err(e) => Err(format!("not imported: {e}").into()),
    }
}

/// Why a line of JSON Lines is not a record, quoting nothing from it: the
/// column of a syntax error, the expected type of a wrong one.
#[must_use]
pub fn json_line_error(error: &serde_json::Error) -> String {
    match json_error::describe(error, false) {
        (json_error::JsonProblem::Syntax, _) => {
            format!("not JSON (at column {})", error.column())
        }
        (json_error::JsonProblem::Shape, text) => format!("not a record: {text}"),
    }
}

/// Plaintext credentials: their JSON text, as `POST /sessions` seals them.
type Plaintext = Zeroizing<Vec<u8>>;

/// The session of a record and its plaintext credentials.
fn parse_session(
    mut session: Map<String, Value>,
) -> Result<(Session, Option<Plaintext>), LineError> {
    // Derived from the SID, so it is not taken from the record.
    session.remove("id");
    let credentials = match session.remove("credentials") {
        None | Some(Value::Null) => None,
        Some(value) => Some(Zeroizing::new(
            serde_json::to_vec(&value).map_err(|_| "`session.credentials` is not valid JSON")?,
        )),
    };
    let session: Session = serde_json::from_value(Value::Object(session)).map_err(|e| {
        format!(
            "`session` is not a session object: {}",
            json_error::describe(&e, false).1
        )
    })?;
    Ok((session, credentials))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_what_a_terminal_would_act_on() {
        let shown = Printable("a\u{1b}[2Jb\r\nc\u{202e}d é\u{feff}\u{2028}\u{61c}").to_string();
        assert_eq!(
            shown,
            "a\\u{1b}[2Jb\\u{d}\\u{a}c\\u{202e}d é\\u{feff}\\u{2028}\\u{61c}"
        );
        assert!(!shown.chars().any(is_unprintable));
    }

    #[test]
    fn a_bad_line_never_prints_a_raw_escape() {
        let bad = BadLine {
            line: 3,
            reason: "unknown \u{1b}]0;title\u{7}".to_owned(),
        };
        assert_eq!(bad.to_string(), "line 3: unknown \\u{1b}]0;title\\u{7}");
    }

    #[test]
    fn session_errors_quote_no_value() {
        let session = serde_json::json!({"sub": "alice", "ctx": "web", "data": "hunter2-secret"});
        let Value::Object(session) = session else {
            unreachable!()
        };
        let Err(LineError::Bad(reason)) = parse_session(session) else {
            panic!("a session with a string for `data` was accepted")
        };
        assert!(!reason.contains("hunter2"), "{reason}");
        assert!(
            reason.starts_with("`session` is not a session object"),
            "{reason}"
        );
    }
}

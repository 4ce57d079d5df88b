//! Administrative commands that work on the configured backend directly:
//! `sessions list|revoke|import`, `purge`, `dynamodb create-table`.

use std::io::{BufRead, IsTerminal as _};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::ServerError;
use crate::config::{Backend, Config};
use crate::import::{ImportReport, Importer};
use crate::migrate::tokenizer::{
    SkipReason, SourceRecord, TokenizerPassword, TokenizerSource, read_tokenizer_store,
    remove_source_records,
};
use crate::wiring::{self, Mode};
use anyhow::{Context as _, bail};
use clap::{ArgGroup, Subcommand};
use tessera_core::{Context, Subject, Timestamp};
use tessera_crypto::LegacySids;
use tessera_store::{Clock as _, SessionRef, Sessions, SystemClock};
use tessera_store_dynamodb::TtlState;
use zeroize::Zeroizing;

use super::progress::Progress;

#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCommand {
    /// Lists the live sessions of a subject: each one's id (an opaque
    /// reference, not a SID, safe to show and to pass to `revoke --id`),
    /// context and times.
    List {
        /// The subject (user) whose sessions to list.
        #[arg(long)]
        subject: String,
        /// Only sessions in this context.
        #[arg(long)]
        ctx: Option<String>,
        /// Prints JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Ends sessions: all of a subject's (optionally in one context), one
    /// by the id that `list` shows, or every session in the store.
    #[command(group(ArgGroup::new("which").required(true).args(["subject", "id", "all"])))]
    Revoke {
        /// Ends every session of this subject.
        #[arg(long)]
        subject: Option<String>,
        /// With --subject: only the sessions in this context.
        #[arg(long, requires = "subject")]
        ctx: Option<String>,
        /// Ends the one session with this id.
        #[arg(long, value_name = "SESSION_ID")]
        id: Option<String>,
        /// Ends every session of every subject (after an emergency key
        /// rotation, say). Asks for confirmation first, showing how many
        /// live sessions there are; walks the store page by page.
        #[arg(long)]
        all: bool,
        /// With --all: do not ask (for scripts; required when standard
        /// input is not a terminal).
        #[arg(long, requires = "all")]
        yes: bool,
    },
    /// Imports live sessions from JSON Lines, each under the SID its client
    /// already holds: `{"sid": "...", "session": {...}}` per line, the
    /// session as `GET /sessions` returns it plus optional `credentials`.
    ///
    /// With --from-tokenizer, reads instead the tokenizer's own records
    /// from the configured backend (the tool's folder, Redis database or
    /// DynamoDB table, which Tessera shares), opens their credentials with
    /// the tokenizer's safe_password and seals them again with Tessera's.
    ///
    /// Expired sessions are skipped, the quota applies, and importing the
    /// same file again changes nothing. Prints the counts, then every bad
    /// line with its reason; exits with 1 if any line was bad.
    Import {
        /// The JSON Lines file, or `-` for standard input.
        #[arg(value_name = "FILE", required_unless_present = "from_tokenizer")]
        file: Option<PathBuf>,
        /// Import the tokenizer's live sessions from the configured backend.
        #[arg(long, conflicts_with = "file")]
        from_tokenizer: bool,
        /// With --from-tokenizer: then remove from the tokenizer's store
        /// each record whose session is now in Tessera or has ended (and
        /// the expired and logged-out ones), if it still holds what was
        /// read. Records not imported are kept. Needs write access to the
        /// source.
        #[arg(long, requires = "from_tokenizer")]
        remove_imported: bool,
        /// A file holding the safe_password the tokenizer encrypted
        /// credentials with, when it is not tokenizer.safe_password (say the
        /// tool ran with a password Tessera refuses as too weak).
        #[arg(long, value_name = "FILE", requires = "from_tokenizer")]
        tokenizer_password_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DynamoDbCommand {
    /// Creates the table in the tokenizer's shape (one String partition key
    /// named `username`) with TTL on the `ttl` attribute.
    CreateTable {
        /// The table name. Default: tokenizer.table.
        #[arg(long)]
        table: Option<String>,
    },
}

pub(crate) fn sessions(config: &Config, command: SessionsCommand) -> anyhow::Result<ExitCode> {
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let service = wiring::open(config, Mode::Admin).await?;
        let sessions = &service.sessions;
        match command {
            SessionsCommand::List { subject, ctx, json } => {
                let subject = Subject::new(subject).context("invalid --subject")?;
                let ctx = ctx.map(Context::new).transpose().context("invalid --ctx")?;
                let list = sessions.list(&subject, ctx.as_ref()).await?;
                if json {
                    let items: Vec<serde_json::Value> = list
                        .iter()
                        .map(|s| {
                            serde_json::json!({
                                "id": s.id.to_string(),
                                "sub": s.session.subject.as_str(),
                                "ctx": s.session.context.as_str(),
                                "creation_time": s.session.creation_time.as_millis(),
                                "auth_time": s.session.auth_time.as_millis(),
                                "last_used": s.session.last_used.as_millis(),
                                "expires": s.session.expiry().at().map(Timestamp::as_millis),
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&items)?);
                } else if list.is_empty() {
                    println!("no live sessions");
                } else {
                    println!(
                        "{:<69}  {:<12}  {:<20}  {:<20}  EXPIRES",
                        "ID", "CTX", "CREATED", "LAST USED"
                    );
                    for s in &list {
                        println!(
                            "{:<69}  {:<12}  {:<20}  {:<20}  {}",
                            s.id.to_string(),
                            s.session.context.as_str(),
                            iso(s.session.creation_time),
                            iso(s.session.last_used),
                            s.session
                                .expiry()
                                .at()
                                .map_or_else(|| "never".to_owned(), iso),
                        );
                    }
                }
            }
            SessionsCommand::Revoke {
                subject,
                ctx,
                id,
                all,
                yes,
            } => {
                if all {
                    return revoke_everything(sessions, yes).await;
                }
                if let Some(id) = id {
                    let id: SessionRef = id.parse().context("invalid --id")?;
                    match sessions.end_by_id(&id, None).await? {
                        Some(_) => println!("ended session {id}"),
                        None => println!("no live session {id}"),
                    }
                } else if let Some(subject) = subject {
                    let subject = Subject::new(subject).context("invalid --subject")?;
                    let ctx = ctx.map(Context::new).transpose().context("invalid --ctx")?;
                    let ended = sessions.end_all(&subject, ctx.as_ref()).await?;
                    println!("ended {} session(s)", ended.len());
                    for id in ended {
                        println!("  {id}");
                    }
                } else {
                    bail!("give --subject or --id");
                }
            }
            SessionsCommand::Import {
                file,
                from_tokenizer,
                remove_imported,
                tokenizer_password_file,
            } => {
                let report = if from_tokenizer {
                    let password = tokenizer_password_file.as_deref();
                    import_from_tokenizer(sessions, config, password, remove_imported).await?
                } else {
                    let file = file.context("give a JSON Lines FILE or --from-tokenizer")?;
                    import_json_lines(sessions, &file).await?
                };
                return Ok(print_import_report(
                    &report,
                    config.session_store.legacy_sids,
                ));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `sessions revoke --all`: counts, asks (unless `yes`), then ends every
/// session and reports what it did.
async fn revoke_everything(sessions: &Sessions, yes: bool) -> anyhow::Result<ExitCode> {
    let live = sessions.count().await?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to end all {live} live session(s) without confirmation: standard input \
                 is not a terminal, so add --yes"
            );
        }
        print!(
            "This ends every session in the store: {live} live session(s), every user signs in \
             again. Type `revoke all` to go on: "
        );
        std::io::Write::flush(&mut std::io::stdout())?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if answer.trim() != "revoke all" {
            println!("nothing was changed");
            return Ok(ExitCode::FAILURE);
        }
    }
    let report = super::progress::alive("revoke --all", sessions.end_every_session(), |r| {
        r.ended + r.left
    })
    .await?;
    println!("ended {} session(s)", report.ended);
    if report.left > 0 {
        println!(
            "left {} session record(s) of a newer format as they are: a newer Tessera wrote them; \
             run this command again with that version",
            report.left
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `sessions import FILE`: reads the JSON Lines records one line at a
/// time and imports each as it is read, so memory holds one line whatever
/// the file's size. Lines over [`MAX_LINE_BYTES`], not UTF-8 or not JSON
/// are reported by number; bad lines are listed in line order.
async fn import_json_lines(
    sessions: &Sessions,
    file: &std::path::Path,
) -> anyhow::Result<ImportReport> {
    let (mut reader, length): (Box<dyn BufRead>, Option<u64>) = if file.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let opened =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        let length = opened
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len());
        (Box::new(std::io::BufReader::new(opened)), length)
    };
    let mut importer = Importer::new(sessions);
    let mut progress = Progress::new("lines", length);
    let mut line = Zeroizing::new(Vec::new());
    let mut position = 0;
    for number in 1.. {
        let read = read_line(&mut reader, &mut line, MAX_LINE_BYTES)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let (bytes, whole) = match read {
            LineRead::End => break,
            LineRead::Whole(bytes) => (bytes, true),
            LineRead::TooLong(bytes) => (bytes, false),
        };
        position += bytes;
        if !whole {
            importer.bad_line(
                number,
                format!("longer than {MAX_LINE_BYTES} bytes; skipped unread"),
            );
        } else if let Ok(text) = std::str::from_utf8(&line) {
            if !text.trim().is_empty() {
                // The description quotes nothing from the line.
                match serde_json::from_str(text) {
                    Ok(value) => {
                        importer.import(number, value).await;
                    }
                    Err(e) => importer.bad_line(number, json_error_text(&e)),
                }
            }
        } else {
            importer.bad_line(number, "not UTF-8");
        }
        progress.advance(position);
    }
    progress.finish();
    let mut report = importer.finish();
    report.bad.sort_by_key(|b| b.line);
    Ok(report)
}

/// The longest JSON Lines record `sessions import` reads: twice the largest
/// record a store keeps, since credentials arrive in plaintext JSON.
const MAX_LINE_BYTES: usize = 2 * tessera_store::backend::record::MAX_RECORD_BYTES;

/// What [`read_line`] found.
enum LineRead {
    /// The end of the input.
    End,
    /// A line of at most the cap, with the bytes it took (newline included).
    Whole(u64),
    /// A line over the cap, skipped to its end, with the bytes it took.
    TooLong(u64),
}

/// Reads the next line into `line` (without its newline), at most `cap`
/// bytes of it; a longer line is read past and dropped without being held.
fn read_line(
    reader: &mut dyn BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<LineRead> {
    line.clear();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    let read = std::io::Read::take(&mut *reader, limit).read_until(b'\n', line)?;
    if read == 0 {
        return Ok(LineRead::End);
    }
    let bytes = read as u64;
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(LineRead::Whole(bytes));
    }
    if line.len() <= cap {
        // The last line, without a newline.
        return Ok(LineRead::Whole(bytes));
    }
    line.clear();
    let mut skipped = bytes;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        if let Some(end) = available.iter().position(|b| *b == b'\n') {
            reader.consume(end + 1);
            skipped += end as u64 + 1;
            break;
        }
        let length = available.len();
        reader.consume(length);
        skipped += length as u64;
    }
    Ok(LineRead::TooLong(skipped))
}

/// Why a line is not JSON (or not JSON of the right shape), quoting nothing
/// from it.
fn json_error_text(error: &serde_json::Error) -> String {
    crate::import::json_line_error(error)
}

/// `sessions import --from-tokenizer`: the tokenizer's live records from the
/// configured backend; the records it skips are printed first. With
/// `remove`, the records whose sessions are settled go from the source.
async fn import_from_tokenizer(
    sessions: &Sessions,
    config: &Config,
    password_file: Option<&std::path::Path>,
    remove: bool,
) -> anyhow::Result<ImportReport> {
    if remove && config.session_store.legacy_sids == LegacySids::Reject {
        bail!(
            "--remove-imported deletes the tool's records, whose tokens are the imported \
             sessions' SIDs, while sessionStore.acceptLegacySIDs is false: those users could use \
             neither. Turn acceptLegacySIDs on first"
        );
    }
    let source = tokenizer_source(config, password_file)?;
    let read = read_tokenizer_store(&source, SystemClock.now()).await?;
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    let mut removable = Vec::new();
    let mut own = 0_u64;
    for (index, item) in read.into_iter().enumerate() {
        match item {
            Ok(record) => records.push((index + 1, record.into_parts())),
            Err(skip) if skip.reason == SkipReason::Tessera => own += 1,
            Err(mut skip) => {
                removable.extend(skip.source.take());
                skipped.push(skip);
            }
        }
    }
    println!("tokenizer records skipped: {}", skipped.len());
    for skip in &skipped {
        println!("  {skip}");
    }
    if own > 0 {
        println!("Tessera's own records passed by (not listed): {own}");
    }
    let mut importer = Importer::new(sessions);
    let mut progress = Progress::new("records", Some(records.len() as u64));
    for (done, (line, (record, source_record))) in (1_u64..).zip(records) {
        if importer.import(line, record).await.is_settled() {
            removable.push(source_record);
        }
        progress.advance(done);
    }
    progress.finish();
    finish_import(importer, remove.then_some((&source, removable.as_slice()))).await
}

/// The import's report, after removing `remove`'s records from the source
/// when asked: a removal that fails is reported after the import's counts,
/// with what it removed before failing, so nothing the import did goes
/// unsaid.
async fn finish_import(
    importer: Importer<'_>,
    remove: Option<(&TokenizerSource, &[SourceRecord])>,
) -> anyhow::Result<ImportReport> {
    let report = importer.finish();
    let Some((source, records)) = remove else {
        return Ok(report);
    };
    let (removed, error) = remove_source_records(source, records).await;
    println!(
        "removed {} tokenizer record(s) whose sessions are in Tessera or had ended; {} already \
         gone; {} changed since they were read (kept: import again)",
        removed.removed, removed.gone, removed.changed
    );
    if let Some(error) = error {
        print_import_report(&report, LegacySids::Accept);
        return Err(anyhow::Error::from(error).context("removing the imported records stopped"));
    }
    Ok(report)
}

/// Where the tokenizer's records are: the configured backend (the tool's
/// `tokenizer:` block, which Tessera shares), with the tool's `timeout` as
/// the idle time and the policy's absolute lifetimes.
fn tokenizer_source(
    config: &Config,
    password_file: Option<&std::path::Path>,
) -> anyhow::Result<TokenizerSource> {
    let password = match password_file {
        Some(path) => {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            );
            TokenizerPassword::new(text.trim_end_matches(['\r', '\n']))
        }
        None => match &config.passwords {
            Some(passwords) => TokenizerPassword::new(passwords.current.expose_secret()),
            None => bail!(
                "--from-tokenizer needs tokenizer.safe_password (or --tokenizer-password-file): \
                 the embedded default has no tokenizer to import from"
            ),
        },
    };
    let policy = config.session_store.policy;
    let mut source = TokenizerSource::new(config.backend.clone(), password);
    source.timeout = policy.max_idle_time;
    source.max_life = policy.max_lifetime;
    source.auth_life = policy.auth_lifetime;
    Ok(source)
}

fn print_import_report(report: &ImportReport, legacy: LegacySids) -> ExitCode {
    println!("{}", report.summary());
    if report.closed > 0 {
        println!(
            "closed {} older session(s) to stay within the quota",
            report.closed
        );
    }
    for line in &report.refused_by_quota {
        println!("line {line}: refused: the subject is at its session quota (DENY_LOGIN)");
    }
    for bad in &report.bad {
        // Escapes control characters: no line can act on the terminal.
        eprintln!("{bad}");
    }
    if report.legacy > 0 && legacy == LegacySids::Reject {
        eprintln!(
            "warning: {} session(s) were imported under legacy SIDs, which will not be \
             accepted until sessionStore.acceptLegacySIDs is true",
            report.legacy
        );
    }
    if report.has_failures() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub(crate) fn purge(config: &Config) -> anyhow::Result<ExitCode> {
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let service = wiring::open(config, Mode::Admin).await?;
        let report = super::progress::alive("purge", service.sessions.purge(), |r| {
            r.sessions + r.index_entries
        })
        .await?;
        println!(
            "purged {} expired session(s) and {} orphaned index entr{}",
            report.sessions,
            report.index_entries,
            if report.index_entries == 1 {
                "y"
            } else {
                "ies"
            }
        );
        Ok(ExitCode::SUCCESS)
    })
}

pub(crate) fn dynamodb(config: &Config, command: &DynamoDbCommand) -> anyhow::Result<ExitCode> {
    let DynamoDbCommand::CreateTable { table } = command;
    let Backend::DynamoDb(dynamo) = &config.backend else {
        bail!(
            "tokenizer.type is {}, not dynamodb: set tokenizer.type, tokenizer.table and the AWS \
             settings first",
            config.backend.store_type()
        );
    };
    let mut dynamo = dynamo.clone();
    if let Some(table) = table {
        dynamo.table.clone_from(table);
    }
    let table = dynamo.table.clone();
    let runtime = super::runtime()?;
    runtime.block_on(async {
        let setup = tessera_store_dynamodb::create_table(&dynamo)
            .await
            .map_err(ServerError::from)?;
        let ttl = match &setup.ttl_before {
            TtlState::Off => "TTL on `ttl` turned on".to_owned(),
            TtlState::OnTtl => "TTL on `ttl` already on".to_owned(),
            TtlState::OtherAttribute(attribute) => {
                format!("TTL left on `{attribute}`: Tessera's items expire by purge only")
            }
        };
        if setup.created {
            println!("created table {table} (partition key `username`, {ttl})");
        } else {
            println!(
                "table {table} exists with the right key schema (partition key `username`); {ttl}"
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// A timestamp as `YYYY-MM-DDTHH:MM:SSZ` (UTC).
fn iso(t: Timestamp) -> String {
    let secs = t.as_millis().div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_utc() {
        assert_eq!(iso(Timestamp::from_millis(0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso(Timestamp::from_millis(1_700_000_000_000)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            iso(Timestamp::from_millis(951_782_400_000)),
            "2000-02-29T00:00:00Z"
        );
    }

    fn lines(input: &[u8], cap: usize) -> Vec<(String, u64)> {
        let mut reader = std::io::BufReader::with_capacity(4, input);
        let mut line = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut reader, &mut line, cap).unwrap() {
                LineRead::End => return out,
                LineRead::Whole(bytes) => {
                    out.push((String::from_utf8(line.clone()).unwrap(), bytes));
                }
                LineRead::TooLong(bytes) => out.push(("<too long>".to_owned(), bytes)),
            }
        }
    }

    #[test]
    fn a_line_over_the_cap_is_passed_by_without_being_held() {
        let got = lines(b"abcd\nabcdefghijk\n\nxy", 5);
        assert_eq!(
            got,
            [
                ("abcd".to_owned(), 5),
                ("<too long>".to_owned(), 12),
                (String::new(), 1),
                ("xy".to_owned(), 2),
            ]
        );
        // Exactly the cap is a whole line; one more byte is too long,
        // with or without a newline at the end.
        assert_eq!(lines(b"abcde\n", 5), [("abcde".to_owned(), 6)]);
        assert_eq!(lines(b"abcdef", 5), [("<too long>".to_owned(), 6)]);
    }
}

//! Any configuration file, environment and `-D` arguments: loading never
//! panics (every problem is a `ConfigErrors`), and a secret given in a
//! secret key is never quoted by an error or by `config show`.
//!
//! Input layout, so that mutations stay meaningful:
//!
//! * byte 0 picks the file: `.yml`, `.toml`, `.yaml`, `.properties` (read
//!   as Java reads a properties file), or no file;
//! * up to the first NUL: the file's contents;
//! * each further NUL-separated part: its first byte picks what it is — an
//!   environment variable with a known name (the next byte picks which) or a
//!   raw `NAME=value`, a `-D` argument for a known key or a raw one, or a
//!   marked secret for one of the secret keys.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_server::config::{self, ConfigSources};

/// Environment variables the loader reads.
const ENV_NAMES: &[&str] = &[
    "TOKENIZER_TYPE",
    "TOKENIZER_TIMEOUT",
    "TOKENIZER_SAFE_PASSWORD",
    "TOKENIZER_PATH",
    "TOKENIZER_HOST",
    "TOKENIZER_PORT",
    "TOKENIZER_SSL",
    "TOKENIZER_TABLE",
    "AWS_REGION_NAME",
    "TESSERA_DATA_DIR",
    "HOME",
    "XDG_DATA_HOME",
    "TESSERA_SESSIONSTORE__MAXLIFETIME",
    "TESSERA_SESSION_STORE__MAX_IDLE_TIME",
    "TESSERA_SESSIONSTORE__QUOTAPERSUBJECT",
    "TESSERA_SESSIONSTORE__ONQUOTAEXHAUSTION",
    "TESSERA_SESSIONSTORE__APIACCESSTOKENSHA256",
    "TESSERA_SESSIONSTORE__APIACCESSTOKENSHA256__OPS",
    "TESSERA_SESSIONSTORE__INTERNAL__SUBJECTINDEXPURGEINTERVAL",
    "TESSERA_TOKENIZER__PREVIOUS_SAFE_PASSWORDS",
    "TESSERA_TOKENIZER__OPTIONS__SSL",
    "TESSERA_TOKENIZER__URL",
    "TESSERA_TOKENIZER__CLUSTER_NODES",
    "TESSERA_SERVER__LISTEN",
    "TESSERA_SERVER__MAX_BODY_BYTES",
];

/// Keys for `-D` arguments.
const KEYS: &[&str] = &[
    "tokenizer.type",
    "tokenizer.timeout",
    "tokenizer.path",
    "tokenizer.touch_window_ms",
    "tokenizer.table",
    "tokenizer.aws_region_name",
    "tokenizer.aws_access_key",
    "tokenizer.endpoint_url",
    "tokenizer.max_read_units_per_second",
    "tokenizer.url",
    "tokenizer.host",
    "tokenizer.port",
    "tokenizer.options.ssl",
    "tokenizer.options.db",
    "tokenizer.cluster",
    "tokenizer.cluster_nodes",
    "tokenizer.sentinel.service_name",
    "tokenizer.sentinel.nodes",
    "tokenizer.key_prefix",
    "tokenizer.pool_size",
    "sessionStore.apiAccessTokenSHA256",
    "sessionStore.apiAccessTokenSHA256.ops",
    "sessionStore.secondaryAPIAccessTokenSHA256",
    "sessionStore.maxLifetime",
    "sessionStore.authLifetime",
    "sessionStore.maxIdleTime",
    "sessionStore.quotaPerSubject",
    "sessionStore.onQuotaExhaustion",
    "sessionStore.acceptLegacySIDs",
    "sessionStore.internal.subjectIndexPurgeInterval",
    "sessionStore.sessionMap.expirationInterval",
    "server.listen",
    "server.max_body_bytes",
    "server.max_header_bytes",
    "server.request_timeout_ms",
    "server.data_dir",
    "server.log_format",
    "server.log_level",
];

/// Keys whose values are secrets.
const SECRET_KEYS: &[&str] = &[
    "tokenizer.safe_password",
    "tokenizer.previous_safe_passwords",
    "tokenizer.aws_secret_key",
    "tokenizer.options.password",
    "tokenizer.sentinel.password",
];

/// Starts every secret this target plants; long and varied enough to pass
/// the password rule, and unlike any text the loader prints.
const MARKER: &str = "Fz9!plantedSecret#";

/// A directory of this process's own for the configuration file.
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tessera-config-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz directory");
        dir
    })
}

fn pick<'a>(table: &[&'a str], byte: Option<&u8>) -> &'a str {
    table[usize::from(byte.copied().unwrap_or(0)) % table.len()]
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // The loader reads `tokenizer.tls_ca_file` (and, for TLS, the system's
    // certificates); a path into a device or process file system would
    // block or never end, which says nothing about the parser.
    if [&b"/dev"[..], b"/proc", b"/sys"]
        .iter()
        .any(|p| rest.windows(p.len()).any(|w| w == *p))
    {
        return;
    }

    let mut parts = rest.split(|&b| b == 0);
    let contents = parts.next().unwrap_or_default();
    let files = ["yml", "toml", "yaml", "properties"]
        .get(usize::from(selector % 5))
        .map(|ext| {
            let path = dir().join(format!("settings.{ext}"));
            std::fs::write(&path, contents).expect("write the configuration file");
            path
        })
        .into_iter()
        .collect();

    let mut sources = ConfigSources {
        files,
        ..ConfigSources::default()
    };
    let mut planted = false;
    for part in parts {
        let Some((&kind, body)) = part.split_first() else {
            continue;
        };
        match kind % 5 {
            0 => {
                let name = pick(ENV_NAMES, body.first());
                let value = String::from_utf8_lossy(body.get(1..).unwrap_or_default());
                sources.env.push((name.to_owned(), value.into_owned()));
            }
            1 => {
                let text = String::from_utf8_lossy(body);
                let (name, value) = text.split_once('=').unwrap_or((&text, ""));
                sources.env.push((name.to_owned(), value.to_owned()));
            }
            2 => {
                let key = pick(KEYS, body.first());
                let value = String::from_utf8_lossy(body.get(1..).unwrap_or_default());
                sources.defines.push(format!("{key}={value}"));
            }
            3 => sources
                .defines
                .push(String::from_utf8_lossy(body).into_owned()),
            _ => {
                let key = pick(SECRET_KEYS, body.first());
                let value = String::from_utf8_lossy(body.get(1..).unwrap_or_default());
                // Alternate between a -D argument and a TESSERA_ variable.
                if body.len() % 2 == 0 {
                    sources.defines.push(format!("{key}={MARKER}{value}"));
                } else {
                    let name = format!("TESSERA_{}", key.replace('.', "__").to_ascii_uppercase());
                    sources.env.push((name, format!("{MARKER}{value}")));
                }
                planted = true;
            }
        }
    }

    match config::load(&sources) {
        Ok(config) => {
            let shown = config.to_redacted_yaml();
            assert!(
                !planted || !shown.contains(MARKER),
                "config show printed a secret"
            );
            // `config show`'s closing list of where each value came from
            // names keys and sources, never values.
            let origins = format!("{:?}", config::origins(&sources));
            assert!(
                !planted || !origins.contains(MARKER),
                "config show's origins quoted a secret"
            );
        }
        Err(errors) => {
            assert!(!errors.errors().is_empty(), "an error report with no error");
            let report = errors.to_string();
            assert!(
                !planted || !report.contains(MARKER),
                "an error quoted a secret"
            );
        }
    }
});

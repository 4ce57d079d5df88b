//! TLS on the API's own listener, so the bearer token never crosses a
//! network in clear without a proxy in front: rustls on ring, as every
//! other TLS connection of the workspace, from a PEM certificate chain and
//! its private key.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What the listener's TLS needs: the acceptor built from the certificate
/// and key files. Its `Debug` shows nothing of the key.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerTls { .. }")
    }
}

/// Why the TLS settings cannot be used, naming the setting at fault.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct TlsSetupError {
    /// The configuration key: `server.tls_cert_file` or `server.tls_key_file`.
    pub setting: &'static str,
    /// What is wrong, naming the file.
    pub reason: String,
    /// The parser's or rustls' error.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ServerTls {
    /// Reads the certificate chain (leaf first, then any intermediates) and
    /// the private key (PKCS#8, PKCS#1 or SEC1), and checks that they fit
    /// together. TLS 1.2 and 1.3 with rustls' safe defaults; HTTP/1.1 is
    /// offered through ALPN.
    ///
    /// # Errors
    ///
    /// A [`TlsSetupError`] naming the file that cannot be read, holds no
    /// PEM certificate or key, or whose key does not fit the certificate.
    pub fn from_pem_files(cert_file: &Path, key_file: &Path) -> Result<Self, TlsSetupError> {
        const CERT: &str = "server.tls_cert_file";
        const KEY: &str = "server.tls_key_file";
        let chain = CertificateDer::pem_file_iter(cert_file)
            .map_err(|e| setup(CERT, format!("cannot read {}", cert_file.display()), e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| setup(CERT, format!("{} is not PEM", cert_file.display()), e))?;
        if chain.is_empty() {
            return Err(TlsSetupError {
                setting: CERT,
                reason: format!("{} holds no PEM certificate", cert_file.display()),
                source: None,
            });
        }
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
            setup(
                KEY,
                format!("{} holds no readable PEM private key", key_file.display()),
                e,
            )
        })?;
        // rustls 0.23.48 deprecates its ring provider for lacking
        // post-quantum key exchange; Tessera's cryptography is ring
        // throughout (no C toolchain, one audited library).
        #[allow(deprecated, reason = "ring on purpose; see above")]
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| setup(CERT, "no TLS protocol version is available".into(), e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                setup(
                    KEY,
                    format!(
                        "the key in {} does not fit the certificate in {}",
                        key_file.display(),
                        cert_file.display()
                    ),
                    e,
                )
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub(super) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

fn setup(
    setting: &'static str,
    reason: String,
    source: impl std::error::Error + Send + Sync + 'static,
) -> TlsSetupError {
    TlsSetupError {
        setting,
        reason,
        source: Some(Box::new(source)),
    }
}

//! TLS client settings: rustls on ring, verified against the system's roots
//! (and an optional extra CA file), or — only when explicitly asked — not
//! verified at all.

use std::path::Path;
use std::sync::Arc;

use fred::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use fred::rustls::crypto::WebPkiSupportedAlgorithms;
use fred::rustls::pki_types::pem::PemObject as _;
use fred::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use fred::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use fred::types::config::TlsConnector;

use crate::config::RedisError;

/// Builds the TLS connector. The crypto provider is set here rather than
/// taken from the process default, so a binary that links another rustls
/// provider cannot change (or break) what Redis connections use.
/// With `client` (a certificate file and its key file), the connector
/// presents that certificate to a Redis that asks for one.
pub(crate) fn connector(
    ca_file: Option<&Path>,
    insecure_skip_verify: bool,
    client: Option<(&Path, &Path)>,
) -> Result<TlsConnector, RedisError> {
    // rustls 0.23.48 deprecates its ring provider for lacking post-quantum
    // key exchange; Tessera's cryptography is ring throughout (no C
    // toolchain, one audited library), and this link is to its own Redis.
    #[allow(deprecated, reason = "ring on purpose; see above")]
    let provider = Arc::new(fred::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("ssl", "no TLS protocol version is available", e))?;
    let builder = if insecure_skip_verify {
        tracing::warn!(
            "Redis TLS certificate verification is DISABLED (tls_insecure_skip_verify): \
             anyone on the network path can read and change sessions"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification {
                algorithms: provider.signature_verification_algorithms,
            }))
    } else {
        builder.with_root_certificates(roots(ca_file)?)
    };
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert_file, key_file)) => {
            let chain = certificates(cert_file)?;
            let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
                tls_error(
                    "tls_key_file",
                    format!("{} holds no readable PEM private key", key_file.display()),
                    e,
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                tls_error(
                    "tls_key_file",
                    "the key does not fit the client certificate of tls_cert_file",
                    e,
                )
            })?
        }
    };
    Ok(config.into())
}

/// The certificates of a client certificate file, leaf first.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, RedisError> {
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| {
            tls_error(
                "tls_cert_file",
                format!("cannot read {}", path.display()),
                e,
            )
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error("tls_cert_file", format!("{} is not PEM", path.display()), e))?;
    if chain.is_empty() {
        return Err(RedisError::Tls {
            setting: "tls_cert_file",
            reason: format!("{} holds no certificate", path.display()),
            source: None,
        });
    }
    Ok(chain)
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, RedisError> {
    let mut roots = RootCertStore::empty();
    let system = fred::rustls_native_certs::load_native_certs();
    // Unreadable system certificates are only fatal when nothing else
    // could verify the server.
    let (added, _ignored) = roots.add_parsable_certificates(system.certs);
    if let Some(path) = ca_file {
        let mut found = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| {
            tls_error(
                "tls_ca_file",
                format!("cannot read tls_ca_file {}", path.display()),
                e,
            )
        })? {
            let cert = cert.map_err(|e| {
                tls_error(
                    "tls_ca_file",
                    format!("tls_ca_file {} is not PEM", path.display()),
                    e,
                )
            })?;
            roots.add(cert).map_err(|e| {
                tls_error(
                    "tls_ca_file",
                    "a certificate in tls_ca_file is not a valid CA",
                    e,
                )
            })?;
            found += 1;
        }
        if found == 0 {
            return Err(RedisError::Tls {
                setting: "tls_ca_file",
                reason: format!("tls_ca_file {} holds no certificate", path.display()),
                source: None,
            });
        }
    } else if added == 0 {
        return Err(RedisError::Tls {
            setting: "tls_ca_file",
            reason: "no trusted root certificates found on this system; set tls_ca_file".into(),
            source: system
                .errors
                .into_iter()
                .next()
                .map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
        });
    }
    Ok(roots)
}

fn tls_error(
    setting: &'static str,
    reason: impl Into<String>,
    source: impl std::error::Error + Send + Sync + 'static,
) -> RedisError {
    RedisError::Tls {
        setting,
        reason: reason.into(),
        source: Some(Box::new(source)),
    }
}

/// Accepts any certificate; signatures are still checked so the handshake
/// itself stays well-formed. Only built for `tls_insecure_skip_verify`.
#[derive(Debug)]
struct NoVerification {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, fred::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, fred::rustls::Error> {
        fred::rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, fred::rustls::Error> {
        fred::rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

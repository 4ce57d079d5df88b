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
use fred::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use fred::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use fred::types::config::TlsConnector;

use crate::config::RedisError;

/// Builds the TLS connector. The crypto provider is set here rather than
/// taken from the process default, so a binary that links another rustls
/// provider cannot change (or break) what Redis connections use.
pub(crate) fn connector(
    ca_file: Option<&Path>,
    insecure_skip_verify: bool,
) -> Result<TlsConnector, RedisError> {
    let provider = Arc::new(fred::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("no TLS protocol version is available", e))?;
    let config = if insecure_skip_verify {
        tracing::warn!(
            "Redis TLS certificate verification is DISABLED (tls_insecure_skip_verify): \
             anyone on the network path can read and change sessions"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(ca_file)?)
            .with_no_client_auth()
    };
    Ok(config.into())
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, RedisError> {
    let mut roots = RootCertStore::empty();
    let system = fred::rustls_native_certs::load_native_certs();
    // Unreadable system certificates are only fatal when nothing else
    // could verify the server.
    let (added, _ignored) = roots.add_parsable_certificates(system.certs);
    if let Some(path) = ca_file {
        let mut found = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| tls_error(format!("cannot read tls_ca_file {}", path.display()), e))?
        {
            let cert = cert
                .map_err(|e| tls_error(format!("tls_ca_file {} is not PEM", path.display()), e))?;
            roots
                .add(cert)
                .map_err(|e| tls_error("a certificate in tls_ca_file is not a valid CA", e))?;
            found += 1;
        }
        if found == 0 {
            return Err(RedisError::Tls {
                reason: format!("tls_ca_file {} holds no certificate", path.display()),
                source: None,
            });
        }
    } else if added == 0 {
        return Err(RedisError::Tls {
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
    reason: impl Into<String>,
    source: impl std::error::Error + Send + Sync + 'static,
) -> RedisError {
    RedisError::Tls {
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

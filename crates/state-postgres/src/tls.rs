//! TLS to PostgreSQL with rustls: the system's CA certificates, plus those of `ca_file`. Whether TLS is
//! used is the URL's `sslmode` (`disable`, `prefer`, the default, or `require`).

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector, or why it cannot be built (an unreadable `ca_file`).
pub(crate) fn connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, String> {
    let mut roots = RootCertStore::empty();
    // Certificates the system store has but rustls cannot parse are skipped, as browsers do.
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _unusable = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect())
            .map_err(|err| format!("ca_file {}: {err}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("ca_file {}: no PEM certificate in it", path.display()));
        }
        for cert in certs {
            roots.add(cert).map_err(|err| format!("ca_file {}: {err}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS: {err}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

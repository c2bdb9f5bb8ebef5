//! The TLS client configuration every feed connection shares: rustls with the ring provider (no
//! aws-lc, which needs cmake), the Mozilla roots from webpki-roots, and optionally extra trusted
//! roots from a PEM file, which is how tests and venues behind a private CA are trusted. ALPN
//! offers only `http/1.1`, because a websocket upgrade is an HTTP/1.1 request.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The extra root certificate file cannot be read.
    #[error("{path}: cannot read the extra root certificate: {source}")]
    ReadRoot {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not PEM.
    #[error("{path}: not a PEM certificate file: {detail}")]
    ParseRoot {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        detail: String,
    },
    /// The file holds no certificate.
    #[error("{path}: holds no CERTIFICATE block")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A certificate of the file cannot be a trust anchor.
    #[error("{path}: certificate {index} is not a usable trust anchor: {source}")]
    BadRoot {
        /// The file.
        path: PathBuf,
        /// Which certificate of the file, from 0.
        index: usize,
        /// What rustls said.
        source: rustls::Error,
    },
    /// rustls refused the configuration.
    #[error("TLS client configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The client configuration for `wss://` feeds: webpki roots plus every certificate in
/// `extra_root_pem` (if given).
///
/// ```
/// let config = carry_feeds::transport::tls::client_config(None).unwrap();
/// assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
/// ```
pub fn client_config(extra_root_pem: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let extra = match extra_root_pem {
        Some(path) => read_pem_certificates(path)?,
        None => Vec::new(),
    };
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (index, cert) in extra.into_iter().enumerate() {
        roots.add(cert).map_err(|source| TlsError::BadRoot {
            path: extra_root_pem.map(Path::to_path_buf).unwrap_or_default(),
            index,
            source,
        })?;
    }
    client_config_with_roots(roots)
}

/// The client configuration trusting exactly `roots` (no webpki roots added).
pub fn client_config_with_roots(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Every `CERTIFICATE` block of a PEM file.
pub fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::ReadRoot {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::ParseRoot {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("carry-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn extra_root_is_added_to_webpki_roots() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let path = temp_file("root.pem", ca.pem().as_bytes());
        let certs = read_pem_certificates(&path).unwrap();
        assert_eq!(certs.len(), 1);
        assert!(client_config(Some(&path)).is_ok());
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let missing = Path::new("/nonexistent/carry/root.pem");
        let err = client_config(Some(missing)).unwrap_err().to_string();
        assert!(
            err.starts_with("/nonexistent/carry/root.pem: cannot read"),
            "{err}"
        );

        let empty = temp_file("empty.pem", b"no pem here\n");
        let err = client_config(Some(&empty)).unwrap_err().to_string();
        assert!(err.ends_with("holds no CERTIFICATE block"), "{err}");
        assert!(err.contains("empty.pem"), "{err}");
    }
}

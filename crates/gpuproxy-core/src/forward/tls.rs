//! TLS to `https://` backends: rustls (ring provider), Mozilla's roots plus the operator's
//! own CAs (a fleet whose workers present certificates of a private CA), ALPN h2 and
//! http/1.1. Certificates are always verified: there is no switch to turn that off.

use std::sync::Arc;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// The DER certificates of a PEM bundle, or what is wrong with it.
pub fn parse_pem_roots(pem: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut found = Vec::new();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("unreadable PEM certificate: {e}"))?;
        found.push(cert.as_ref().to_vec());
    }
    if found.is_empty() {
        return Err("no PEM certificate (-----BEGIN CERTIFICATE-----) found".into());
    }
    let mut probe = RootCertStore::empty();
    let (_, bad) =
        probe.add_parsable_certificates(found.iter().map(|d| CertificateDer::from(d.as_slice())));
    if bad > 0 {
        return Err(format!(
            "{bad} certificate(s) could not be used as trust anchors"
        ));
    }
    Ok(found)
}

// ring rather than aws-lc-rs: it builds with a plain C compiler (no cmake) on every target
// the wheel ships for; rustls deprecates it only for lacking post-quantum key exchange.
#[allow(deprecated)]
fn client_config(extra_roots: &[Vec<u8>]) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Checked by `parse_pem_roots` when they were configured.
    roots.add_parsable_certificates(extra_roots.iter().map(|d| CertificateDer::from(d.clone())));
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A connector for `https://` URIs (ALPN picks HTTP/2 or HTTP/1.1) over `http`.
pub fn https_connector(
    http: HttpConnector,
    extra_roots: &[Vec<u8>],
) -> HttpsConnector<HttpConnector> {
    HttpsConnectorBuilder::new()
        .with_tls_config(client_config(extra_roots))
        .https_only()
        .enable_all_versions()
        .wrap_connector(http)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_bundles_are_checked() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let pem = cert.cert.pem();
        assert_eq!(parse_pem_roots(&pem).unwrap().len(), 1);
        assert_eq!(parse_pem_roots(&format!("{pem}{pem}")).unwrap().len(), 2);
        assert!(parse_pem_roots("").unwrap_err().contains("no PEM"));
        assert!(parse_pem_roots(
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"
        )
        .is_err());
    }
}

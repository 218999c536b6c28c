//! `https://` backends: TLS with the certificate checked against the host name, ALPN
//! choosing HTTP/2 or HTTP/1.1, private CAs trusted only when configured.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use gpuproxy_core::forward::tls::parse_pem_roots;
use gpuproxy_core::forward::{ForwardConfig, ForwardRequest, Forwarder, RequestBody};
use http::{Method, Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// An https server for `localhost` with a fresh self-signed certificate, answering
/// "<HTTP version>:<body>"; returns its port and the certificate's PEM.
async fn tls_backend(alpn: &[&[u8]]) -> (u16, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let pem = cert.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    #[allow(deprecated)] // the test server's provider; see forward/tls.rs
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.cert.der().to_vec())], key)
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return; // the client refused our certificate
                };
                let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let version = format!("{:?}", req.version());
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let out = format!("{version}:{}", String::from_utf8_lossy(&body));
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(out))))
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, pem)
}

async fn post(fwd: &Forwarder, port: u16) -> Result<String, String> {
    let mut req = ForwardRequest::new(Method::POST, "/echo");
    req.body = RequestBody::Full(Bytes::from_static(b"hi"));
    let mut resp = fwd
        .forward_to(&format!("https://localhost:{port}"), req)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while let Some(c) = resp.body.chunk().await {
        out.extend_from_slice(&c.unwrap());
    }
    Ok(String::from_utf8(out).unwrap())
}

fn trusting(pem: &str) -> Forwarder {
    Forwarder::new(ForwardConfig {
        extra_roots: parse_pem_roots(pem).unwrap(),
        ..ForwardConfig::default()
    })
}

#[tokio::test]
async fn https_backends_speak_h2_or_http1_by_alpn() {
    let (h2_port, pem) = tls_backend(&[b"h2", b"http/1.1"]).await;
    assert_eq!(post(&trusting(&pem), h2_port).await.unwrap(), "HTTP/2.0:hi");
    let (h1_port, pem) = tls_backend(&[b"http/1.1"]).await;
    assert_eq!(post(&trusting(&pem), h1_port).await.unwrap(), "HTTP/1.1:hi");
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    let (port, _pem) = tls_backend(&[b"http/1.1"]).await;
    let plain = Forwarder::new(ForwardConfig::default());
    let err = post(&plain, port).await.unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // Another CA's certificate does not help either.
    let (_, other_pem) = tls_backend(&[b"http/1.1"]).await;
    let err = post(&trusting(&other_pem), port).await.unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

//! Loopback HTTP/1.1 servers for the forwarding tests: a raw TCP listener whose handler
//! writes exact bytes, so tests control framing and timing (chunk by chunk, stalls,
//! oversized bodies) and see exactly what the forwarder sent.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

/// A request as the backend received it.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub method: String,
    pub target: String,
    /// Lower-cased names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request (head + content-length or chunked body); `None` on EOF.
pub async fn read_request(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> Option<RawRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let mut req = RawRequest {
        method: parts.next()?.to_string(),
        target: parts.next()?.to_string(),
        ..RawRequest::default()
    };
    loop {
        line.clear();
        reader.read_line(&mut line).await.ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        req.headers
            .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    if let Some(len) = req.header("content-length") {
        let mut body = vec![0; len.parse().ok()?];
        reader.read_exact(&mut body).await.ok()?;
        req.body = body;
    } else if req.header("transfer-encoding") == Some("chunked") {
        loop {
            line.clear();
            reader.read_line(&mut line).await.ok()?;
            let size = usize::from_str_radix(line.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            req.body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(req)
}

/// Starts a backend; `handler` answers each request on a connection (keep-alive loop)
/// and returns `false` to close the connection.
pub async fn serve<H, F>(handler: H) -> SocketAddr
where
    H: Fn(RawRequest, Arc<tokio::sync::Mutex<OwnedWriteHalf>>) -> F + Send + Sync + 'static,
    F: Future<Output = bool> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                let (r, w) = stream.into_split();
                let mut reader = BufReader::new(r);
                let writer = Arc::new(tokio::sync::Mutex::new(w));
                while let Some(req) = read_request(&mut reader).await {
                    if !handler(req, Arc::clone(&writer)).await {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Writes raw bytes to the client.
pub async fn write(w: &Arc<tokio::sync::Mutex<OwnedWriteHalf>>, bytes: &[u8]) {
    let mut w = w.lock().await;
    let _ = w.write_all(bytes).await;
    let _ = w.flush().await;
}

/// A fixed-length 200 response.
pub fn ok_response(body: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra_headers}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An address nothing listens on (bound then closed).
pub async fn refused_address() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a
}

/// Connects to prove a listener is up (used to wait for readiness where needed).
pub async fn connectable(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_ok()
}

//! Everything that is not a hot route goes to the Litestar app, which Granian serves on a
//! Unix socket behind this listener (one public port). Bodies stream both ways; WebSocket
//! upgrades are joined end to end. `X-Forwarded-For` gets the client's address appended:
//! the app trusts that last hop only because nothing but this listener can reach its socket.
//! A request body is pumped (`linger.rs`), so an answer given before the body was read still
//! reaches the client.

use std::net::SocketAddr;
use std::path::PathBuf;

use http::header::{HeaderValue, CONNECTION, UPGRADE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Either};
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::UnixStream;

use super::linger::{self, PumpedBody};
use super::respond::{ApiError, OutBody};

const MAX_IDLE: usize = 256;

/// A request body on its way to the control plane: as it is when there is none, pumped
/// when there is one.
type ToControlPlane = Either<Incoming, PumpedBody>;

#[derive(Debug)]
pub struct Fallback {
    path: PathBuf,
    idle: Mutex<Vec<http1::SendRequest<ToControlPlane>>>,
}

impl Fallback {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn idle_sender(&self) -> Option<http1::SendRequest<ToControlPlane>> {
        let mut idle = self.idle.lock();
        idle.retain(|s| !s.is_closed());
        let i = idle.iter().position(http1::SendRequest::is_ready)?;
        Some(idle.swap_remove(i))
    }

    async fn connect(&self) -> std::io::Result<http1::SendRequest<ToControlPlane>> {
        let stream = UnixStream::connect(&self.path).await?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        Ok(sender)
    }

    pub async fn proxy(&self, mut req: Request<Incoming>, peer: SocketAddr) -> Response<OutBody> {
        let ip = peer.ip().to_string();
        let headers = req.headers_mut();
        let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prev) => format!("{prev}, {ip}"),
            None => ip,
        };
        if let Ok(v) = HeaderValue::from_str(&xff) {
            headers.insert("x-forwarded-for", v);
        }
        let upgrade = req.headers().contains_key(UPGRADE)
            && req
                .headers()
                .get(CONNECTION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"));
        let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
        let req = req.map(|body| {
            if body.is_end_stream() {
                Either::Left(body)
            } else {
                Either::Right(linger::pump(body))
            }
        });
        let mut sender = match self.idle_sender() {
            Some(s) => s,
            None => match self.connect().await {
                Ok(s) => s,
                Err(e) => {
                    return ApiError::new(503, format!("the control plane is unavailable ({e})"))
                        .code("control_plane_unavailable")
                        .header("retry-after", "1")
                        .into_response()
                }
            },
        };
        let mut resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                return ApiError::new(502, format!("the control plane failed ({e})"))
                    .code("control_plane_error")
                    .into_response()
            }
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_upgrade) = client_upgrade {
                let upstream_upgrade = hyper::upgrade::on(&mut resp);
                tokio::spawn(async move {
                    if let (Ok(client), Ok(upstream)) =
                        (client_upgrade.await, upstream_upgrade.await)
                    {
                        let mut client = TokioIo::new(client);
                        let mut upstream = TokioIo::new(upstream);
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        } else {
            let mut idle = self.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(sender);
            }
        }
        resp.map(|b| b.map_err(Into::into).boxed_unsync())
    }
}

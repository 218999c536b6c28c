//! The public listener: binds the port (SO_REUSEPORT, so several processes share it),
//! accepts connections and serves HTTP/1.1 with keep-alive and upgrades. A stop signal
//! closes the listening socket and lets open connections finish their current exchange.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::service::handle;
use super::state::DataPlane;

/// Binds `addr` for a listener shared with other processes of the same service.
pub fn bind(addr: SocketAddr, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Serves until `stop` holds `Some(drain)`; then lets open exchanges finish for up to
/// `drain` and retires every spend allowance.
pub async fn serve(
    dp: Arc<DataPlane>,
    listener: std::net::TcpListener,
    mut stop: watch::Receiver<Option<Duration>>,
) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let (conn_stop_tx, conn_stop) = watch::channel(false);
    let sweeper = {
        let dp = Arc::clone(&dp);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                dp.allowances.sweep(std::time::Instant::now());
            }
        })
    };
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let dp = Arc::clone(&dp);
                let mut conn_stop = conn_stop.clone();
                tokio::spawn(async move {
                    // Boxed: the connection holds its in-flight service future inline, and
                    // the hot path's future is several KiB; a held stream should keep a
                    // pointer, not that space (measured by benchmarks/held_memory.py).
                    let service = service_fn(move |req| {
                        let dp = Arc::clone(&dp);
                        Box::pin(async move { Ok::<_, Infallible>(handle(dp, req, peer).await) })
                    });
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(30))
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = conn_stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
        }
    }
    drop(listener);
    let drain = stop.borrow().unwrap_or_default();
    let _ = conn_stop_tx.send(true);
    // Open streams finish (graceful_shutdown lets the current exchange complete).
    let deadline = tokio::time::Instant::now() + drain;
    while dp
        .metrics
        .in_flight
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sweeper.abort();
    dp.allowances.retire(None);
    Ok(())
}

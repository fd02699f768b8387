//! Who may connect: the accept loop, a bound on connections per IP address, and an
//! optional allowlist of WebSocket `Origin`s.
//!
//! jsonrpsee's `Server::start` owns its accept loop and never tells a middleware which
//! address a connection comes from, nor when it ends. So the node accepts connections
//! itself and hands each to jsonrpsee's tower service (`serve_with_graceful_shutdown`,
//! the documented low-level API), holding an [`IpPermit`] for the connection's life. A
//! connection over `rpc.max-connections-per-ip` gets HTTP 429 to its first request and
//! is closed. The `Origin` check is a tower layer on each HTTP request: a WebSocket
//! handshake whose `Origin` is not listed in `rpc.ws-origins` gets HTTP 403.

use futures_util::future::{Either, Ready, ready};
use jsonrpsee::server::{
    HttpRequest, HttpResponse, Methods, StopHandle, TowerServiceBuilder, http::response,
    serve_with_graceful_shutdown, ws::is_upgrade_request,
};
use std::{
    collections::HashMap,
    convert::Infallible,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Duration,
};
use tokio::net::TcpListener;

/// How long a refused connection may take to send the request it is refused on.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Refused connections answered at once at most; beyond, one is closed without an
/// answer, so that refusals cannot hold the file descriptors everyone needs.
const MAX_REFUSALS: usize = 64;

/// Connections open per IP address, bounded.
#[derive(Debug)]
pub(crate) struct PerIp {
    max: u32,
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// One open connection from `ip`; its drop frees the place.
#[derive(Debug)]
pub(crate) struct IpPermit {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    pub(crate) fn new(max: u32) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, u32>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for one more connection from `ip`, if it has fewer than the bound.
    pub(crate) fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpPermit> {
        let mut open = self.lock();
        let count = open.entry(ip).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpPermit {
            per_ip: self.clone(),
            ip,
        })
    }
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        let mut open = self.per_ip.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Accepts connections until `stop`, serving each with a service from `builder`.
pub(crate) async fn accept_loop<R, H>(
    listener: TcpListener,
    builder: TowerServiceBuilder<R, H>,
    methods: Methods,
    stop: StopHandle,
    per_ip: Arc<PerIp>,
) where
    TowerServiceBuilder<R, H>: Clone,
    jsonrpsee::server::TowerService<R, H>: tower::Service<
            HttpRequest<hyper::body::Incoming>,
            Response = HttpResponse,
            Error = Box<dyn std::error::Error + Send + Sync>,
        > + Clone
        + Send
        + 'static,
    <jsonrpsee::server::TowerService<R, H> as tower::Service<
        HttpRequest<hyper::body::Incoming>,
    >>::Future: Send,
{
    let refusals = Arc::new(tokio::sync::Semaphore::new(MAX_REFUSALS));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.clone().shutdown() => return,
        };
        let (socket, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: wait a little instead of spinning.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let Some(permit) = per_ip.try_acquire(remote.ip()) else {
            crate::metrics::connection_refused("per_ip");
            if let Ok(slot) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(socket).await;
                    drop(slot);
                });
            }
            continue;
        };
        // The permit rides in every request's extensions: after a WebSocket upgrade
        // hyper's connection future ends, and jsonrpsee's connection task keeps the
        // upgrade request's extensions (so the permit) until the socket closes.
        let permit = Arc::new(permit);
        let service = tower::ServiceBuilder::new()
            .map_request(move |mut req: HttpRequest<hyper::body::Incoming>| {
                req.extensions_mut().insert(permit.clone());
                req
            })
            .service(builder.clone().build(methods.clone(), stop.clone()));
        let stopped = stop.clone().shutdown();
        tokio::spawn(async move {
            if let Err(e) = serve_with_graceful_shutdown(socket, service, stopped).await {
                tracing::debug!(error = %e, %remote, "connection ended with an error");
            }
        });
    }
}

/// Answers a connection's first request with HTTP 429, then closes it.
async fn refuse(socket: tokio::net::TcpStream) {
    let service = tower::service_fn(|_: HttpRequest<hyper::body::Incoming>| {
        ready(Ok::<_, Infallible>(response::too_many_requests()))
    });
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, jsonrpsee::server::serve(socket, service)).await;
}

/// Tower layer: WebSocket handshakes must carry a listed `Origin` (none listed: any).
#[derive(Debug, Clone)]
pub(crate) struct OriginLayer {
    pub(crate) allowed: Arc<[String]>,
}

impl<S> tower::Layer<S> for OriginLayer {
    type Service = OriginCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OriginCheck {
            inner,
            allowed: self.allowed.clone(),
        }
    }
}

/// The service of [`OriginLayer`].
#[derive(Debug, Clone)]
pub(crate) struct OriginCheck<S> {
    inner: S,
    allowed: Arc<[String]>,
}

impl OriginLayer {
    /// Whether a handshake with `origin` may go on.
    fn admits(allowed: &[String], origin: Option<&str>) -> bool {
        allowed.is_empty()
            || origin.is_some_and(|o| allowed.iter().any(|a| a.eq_ignore_ascii_case(o)))
    }
}

impl<S, B> tower::Service<HttpRequest<B>> for OriginCheck<S>
where
    S: tower::Service<HttpRequest<B>, Response = HttpResponse>,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Either<Ready<Result<HttpResponse, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequest<B>) -> Self::Future {
        if is_upgrade_request(&req) {
            let origin = req.headers().get("origin").and_then(|v| v.to_str().ok());
            if !OriginLayer::admits(&self.allowed, origin) {
                crate::metrics::connection_refused("origin");
                return Either::Left(ready(Ok(response::denied())));
            }
        }
        Either::Right(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_per_ip_is_freed_when_its_connection_ends() {
        let per_ip = PerIp::new(2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let first = per_ip.try_acquire(a).unwrap();
        let _second = per_ip.try_acquire(a).unwrap();
        assert!(
            per_ip.try_acquire(a).is_none(),
            "a third from the same address"
        );
        assert!(
            per_ip.try_acquire(b).is_some(),
            "another address has its own bound"
        );
        drop(first);
        assert!(per_ip.try_acquire(a).is_some());
    }

    #[test]
    fn origins_are_checked_only_when_listed() {
        let listed = ["https://app.example".to_owned()];
        assert!(OriginLayer::admits(&[], None));
        assert!(OriginLayer::admits(&[], Some("https://evil.example")));
        assert!(OriginLayer::admits(&listed, Some("https://APP.example")));
        assert!(!OriginLayer::admits(&listed, Some("https://evil.example")));
        assert!(!OriginLayer::admits(&listed, None));
    }
}

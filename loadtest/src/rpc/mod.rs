//! A lean JSON-RPC client over HTTP/1.1 and WebSocket, written for load generation:
//! requests of the measured run are serialized before the clock starts, responses are read
//! without building a `serde_json::Value` tree, and nothing is shared between connections.
//! [`Client`] is the convenience front end for setup and checks; the measured run drives
//! [`HttpConn`] and [`WsConn`] directly.

mod http;
pub(crate) mod wire;
mod ws;

pub(crate) use http::HttpConn;
pub(crate) use ws::{Arrival, FrameSink, WsConn, epoch_us};

use crate::{
    config::{Endpoint, Transport},
    error::{LoadError, LoadResult, RpcFailure},
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// Longest a setup or check call may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Most calls in one batch (Peregrine accepts 1000).
pub(crate) const MAX_BATCH: usize = 500;

/// A JSON-RPC client for calls outside the measured hot path.
#[derive(Debug)]
pub(crate) enum Client {
    /// Pooled keep-alive HTTP connections.
    Http {
        /// The pool.
        pool: http::HttpPool,
        /// Next request id.
        next_id: AtomicU64,
    },
    /// One WebSocket connection.
    Ws(WsConn),
}

impl Client {
    /// Connects to `ep` with its own transport.
    pub(crate) async fn connect(ep: &Endpoint) -> LoadResult<Client> {
        let connect_err = |source| LoadError::Connect {
            url: ep.url.clone(),
            source,
        };
        match ep.transport {
            Transport::Http => {
                let pool = http::HttpPool::new(ep.clone());
                // Fail now, not at the first call, if nothing listens.
                HttpConn::connect(ep).await.map_err(connect_err)?;
                Ok(Client::Http {
                    pool,
                    next_id: AtomicU64::new(1),
                })
            }
            Transport::Ws => Ok(Client::Ws(
                WsConn::connect(ep, usize::MAX).await.map_err(connect_err)?,
            )),
        }
    }

    async fn exchange(
        &self,
        ids: u64,
        build: impl FnOnce(u64) -> String,
    ) -> Result<(u64, Vec<u8>), RpcFailure> {
        let fut = async {
            match self {
                Client::Http { pool, next_id } => {
                    let first = next_id.fetch_add(ids.max(1), Ordering::Relaxed);
                    let body = build(first);
                    pool.post(body.as_bytes())
                        .await
                        .map(|b| (first, b))
                        .map_err(|e| RpcFailure::Transport(e.to_string()))
                }
                Client::Ws(ws) => {
                    let mut first_id = 0;
                    let bytes = ws
                        .request(ids, |first| {
                            first_id = first;
                            build(first)
                        })
                        .await?;
                    Ok((first_id, bytes))
                }
            }
        };
        tokio::time::timeout(CALL_TIMEOUT, fut)
            .await
            .map_err(|_| RpcFailure::Timeout(CALL_TIMEOUT))?
    }

    /// Calls `method` and decodes its result.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, RpcFailure> {
        let (_, bytes) = self
            .exchange(1, |id| wire::request(id, method, &params))
            .await?;
        wire::parse_response(&bytes)
    }

    /// [`Client::call`] with the failure wrapped as a [`LoadError`].
    pub(crate) async fn must<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> LoadResult<T> {
        self.call(method, params)
            .await
            .map_err(|e| LoadError::rpc(method, e))
    }

    /// Calls `method` once per entry of `params`, in batches of [`MAX_BATCH`]; results in
    /// order.
    pub(crate) async fn batch<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &[Value],
    ) -> Result<Vec<Result<T, RpcFailure>>, RpcFailure> {
        let mut out = Vec::with_capacity(params.len());
        for chunk in params.chunks(MAX_BATCH) {
            let (first, bytes) = self
                .exchange(chunk.len() as u64, |id| {
                    wire::batch_request(id, method, chunk)
                })
                .await?;
            out.extend(wire::parse_batch(&bytes, first, chunk.len())?);
        }
        Ok(out)
    }

    /// Closes a WebSocket client (HTTP connections close when dropped).
    pub(crate) fn close(&self) {
        if let Client::Ws(ws) = self {
            ws.close();
        }
    }
}

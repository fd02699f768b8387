//! Starting the jsonrpsee server: HTTP and WebSocket on one port.

use crate::{
    accepting::UnsubscribeAfterAccept, api::EthApiServer, config::RpcConfig, eth::EthHandler,
    order::ArrivalOrder,
};
use jsonrpsee::server::{
    BatchRequestConfig, Server, ServerConfig, ServerHandle, middleware::rpc::RpcServiceBuilder,
};
use peregrine_sequencer::{Chain, Ingress};
use std::{net::SocketAddr, sync::Arc};

/// Subscription ids as geth writes them: `0x` and 32 hex digits. Clients such as viem
/// route notifications only for string ids. Unique per server: a random start (from the
/// clock and the address of a fresh allocation) plus a counter, mixed.
#[derive(Debug)]
struct HexIdProvider {
    seed: u64,
    next: std::sync::atomic::AtomicU64,
}

impl HexIdProvider {
    fn new() -> Self {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        let addr = Box::new(0u8).as_ref() as *const u8 as u64;
        Self {
            seed: clock ^ addr.rotate_left(32),
            next: std::sync::atomic::AtomicU64::new(1),
        }
    }
}

impl jsonrpsee::core::traits::IdProvider for HexIdProvider {
    fn next_id(&self) -> jsonrpsee::types::SubscriptionId<'static> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hash = alloy_primitives::keccak256([self.seed.to_be_bytes(), n.to_be_bytes()].concat());
        jsonrpsee::types::SubscriptionId::Str(format!("0x{}", hex_prefix(&hash.0[..16])).into())
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Failure to start the RPC server.
#[derive(Debug, thiserror::Error)]
pub enum RpcServerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// A method was registered twice (a bug).
    #[error("method registration: {0}")]
    Register(String),
}

/// A running RPC server.
#[derive(Debug)]
pub struct RpcServer {
    /// Bound address (useful with port 0).
    pub local_addr: SocketAddr,
    /// Handle to stop it.
    pub handle: ServerHandle,
}

/// Starts the server on `cfg.addr`.
pub async fn start(
    cfg: RpcConfig,
    chain: Arc<Chain>,
    ingress: Ingress,
) -> Result<RpcServer, RpcServerError> {
    let config = ServerConfig::builder()
        .max_request_body_size(cfg.max_request_size)
        .max_response_body_size(cfg.max_response_size)
        .max_connections(cfg.max_connections)
        .max_subscriptions_per_connection(cfg.max_subscriptions)
        .set_message_buffer_capacity(cfg.subscription_buffer.max(1))
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.max_batch_len))
        .set_id_provider(HexIdProvider::new())
        .build();
    let addr = cfg.addr;
    let handler = EthHandler::new(chain, ingress, cfg);
    let accepting = handler.accepting.clone();
    let middleware = RpcServiceBuilder::new()
        .layer_fn(|service| ArrivalOrder { service })
        .layer_fn(move |service| UnsubscribeAfterAccept {
            service,
            accepting: accepting.clone(),
        });
    let server = Server::builder()
        .set_config(config)
        .set_rpc_middleware(middleware)
        .build(addr)
        .await
        .map_err(|source| RpcServerError::Bind { addr, source })?;
    let local_addr = server
        .local_addr()
        .map_err(|source| RpcServerError::Bind { addr, source })?;
    let module = handler.into_rpc();
    let handle = server.start(module);
    Ok(RpcServer { local_addr, handle })
}

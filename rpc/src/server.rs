//! Starting the jsonrpsee server: HTTP and WebSocket on one port.

use crate::connections::{OriginLayer, PerIp, accept_loop};
use crate::{
    accepting::UnsubscribeAfterAccept, api::EthApiServer, config::RpcConfig, eth::EthHandler,
    order::ArrivalOrder,
};
use jsonrpsee::server::{
    BatchRequestConfig, Methods, PingConfig, Server, ServerConfig, ServerHandle,
    middleware::rpc::RpcServiceBuilder, stop_channel,
};
use peregrine_chain::Chain;
use std::time::Duration;
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
    writes: crate::forward::Writes,
) -> Result<RpcServer, RpcServerError> {
    let ping = PingConfig::new()
        .ping_interval(Duration::from_millis(cfg.ws_ping_interval_ms.max(1)))
        .inactive_limit(Duration::from_millis(cfg.ws_idle_timeout_ms.max(1)))
        .max_failures(1);
    let config = ServerConfig::builder()
        .enable_ws_ping(ping)
        .max_request_body_size(cfg.max_request_size)
        .max_response_body_size(cfg.max_response_size)
        .max_connections(cfg.max_connections)
        .max_subscriptions_per_connection(cfg.max_subscriptions)
        .set_message_buffer_capacity(cfg.subscription_buffer.max(1))
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.max_batch_len))
        .set_id_provider(HexIdProvider::new())
        .build();
    let addr = cfg.addr;
    let per_ip = PerIp::new(cfg.max_connections_per_ip);
    let origins = OriginLayer {
        allowed: cfg.ws_origins.clone().into(),
    };
    let handler = EthHandler::new(chain, writes, cfg);
    let accepting = handler.accepting.clone();
    let middleware = RpcServiceBuilder::new()
        .layer_fn(|service| ArrivalOrder { service })
        .layer_fn(move |service| UnsubscribeAfterAccept {
            service,
            accepting: accepting.clone(),
        });
    let builder = Server::builder()
        .set_config(config)
        .set_rpc_middleware(middleware)
        .set_http_middleware(tower::ServiceBuilder::new().layer(origins))
        .to_service_builder();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RpcServerError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| RpcServerError::Bind { addr, source })?;
    let methods: Methods = handler.into_rpc().into();
    let (stop, handle) = stop_channel();
    tokio::spawn(accept_loop(listener, builder, methods, stop, per_ip));
    Ok(RpcServer { local_addr, handle })
}

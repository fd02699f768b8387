//! Starting the jsonrpsee server: HTTP and WebSocket on one port.

use crate::{api::EthApiServer, config::RpcConfig, eth::EthHandler};
use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, ServerHandle};
use peregrine_sequencer::{Chain, Ingress};
use std::{net::SocketAddr, sync::Arc};

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
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.max_batch_len))
        .build();
    let server = Server::builder()
        .set_config(config)
        .build(cfg.addr)
        .await
        .map_err(|source| RpcServerError::Bind {
            addr: cfg.addr,
            source,
        })?;
    let local_addr = server.local_addr().map_err(|source| RpcServerError::Bind {
        addr: cfg.addr,
        source,
    })?;
    let module = EthHandler::new(chain, ingress, cfg).into_rpc();
    let handle = server.start(module);
    Ok(RpcServer { local_addr, handle })
}

//! JSON-RPC errors, with the codes geth and EIP-1474 use.

use alloy_primitives::Bytes;
use jsonrpsee::types::ErrorObjectOwned;
use peregrine_chain::{IngressError, StoreError};

/// Invalid method parameters (JSON-RPC 2.0).
pub const INVALID_PARAMS: i32 = -32602;
/// Internal error (JSON-RPC 2.0).
pub const INTERNAL_ERROR: i32 = -32603;
/// Generic server error, used by geth for transaction and state errors.
pub const SERVER_ERROR: i32 = -32000;
/// Limit exceeded / busy (EIP-1474).
pub const LIMIT_EXCEEDED: i32 = -32005;
/// Execution reverted, with the revert data in `data` (geth).
pub const EXECUTION_REVERTED: i32 = 3;
/// EIP-7966: not processed within the timeout (`data`: the transaction hash).
pub const SYNC_TIMEOUT: i32 = 4;
/// EIP-7966: the transaction cannot be ready (nonce gap, insufficient funds, dropped).
pub const SYNC_NOT_READY: i32 = 5;

/// Everything an RPC method can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// A replica forwarded a write and the sequencer refused it: its error, as it came.
    #[error("{}", .0.message())]
    Forwarded(ErrorObjectOwned),
    /// A replica could not forward a write (the sequencer is unreachable or silent).
    #[error("{0}")]
    Upstream(String),
    /// Ingress refused the transaction.
    #[error(transparent)]
    Ingress(#[from] IngressError),
    /// The store failed; details are logged, not sent.
    #[error("internal error")]
    Store(#[from] StoreError),
    /// Parameters are well-formed JSON but not acceptable.
    #[error("invalid params: {0}")]
    InvalidParams(String),
    /// The requested block does not exist.
    #[error("header not found")]
    HeaderNotFound,
    /// State of an older block was asked for; only the latest and pending are kept.
    #[error(
        "historical state unavailable: block {requested} is older than the head {head}; this node keeps only the latest state"
    )]
    HistoricalState {
        /// Block asked for.
        requested: u64,
        /// Current head.
        head: u64,
    },
    /// State was asked for at an earlier view of a block (a block hash a receipt named
    /// before its block sealed); only the newest state and the last sealed block's are kept.
    #[error(
        "state unavailable at {0}: it names a block as it stood after an earlier mini-block; this node keeps only the newest state (latest) and the last sealed block's"
    )]
    ViewState(alloy_primitives::B256),
    /// The call reverted.
    #[error("execution reverted{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Reverted {
        /// Decoded `Error(string)` reason, if any.
        reason: Option<String>,
        /// Raw revert data.
        data: Bytes,
    },
    /// The call or transaction could not run (halt, invalid transaction).
    #[error("{0}")]
    Execution(String),
    /// The EVM ran past `rpc.evm-timeout`.
    #[error("execution aborted (timeout = {0:?})")]
    EvmTimeout(std::time::Duration),
    /// A configured limit was hit.
    #[error("{0}")]
    LimitExceeded(String),
    /// `eth_sendRawTransactionSync` timed out (EIP-7966 code 4).
    #[error("the transaction was accepted but not preconfirmed within {timeout_ms} ms")]
    SyncTimeout {
        /// The transaction.
        hash: alloy_primitives::B256,
        /// The timeout that applied.
        timeout_ms: u64,
    },
    /// `eth_sendRawTransactionSync`: the transaction cannot be ready (EIP-7966 code 5).
    #[error("{reason}")]
    NotReady {
        /// The transaction.
        hash: alloy_primitives::B256,
        /// Why, in words.
        reason: String,
    },
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(err: RpcError) -> Self {
        let message = err.to_string();
        match err {
            RpcError::Forwarded(e) => e,
            RpcError::Upstream(_) => ErrorObjectOwned::owned(SERVER_ERROR, message, None::<()>),
            RpcError::Ingress(e) => {
                let code = match e {
                    IngressError::Decode(_) => INVALID_PARAMS,
                    IngressError::Busy
                    | IngressError::L1Backlog { .. }
                    | IngressError::NonceTooFarAhead { .. }
                    | IngressError::SenderBusy { .. } => LIMIT_EXCEEDED,
                    _ => SERVER_ERROR,
                };
                ErrorObjectOwned::owned(code, message, None::<()>)
            }
            RpcError::Store(e) => {
                tracing::error!(error = %e, "store error while serving RPC");
                ErrorObjectOwned::owned(INTERNAL_ERROR, message, None::<()>)
            }
            RpcError::InvalidParams(_) => {
                ErrorObjectOwned::owned(INVALID_PARAMS, message, None::<()>)
            }
            RpcError::Reverted { data, .. } => {
                ErrorObjectOwned::owned(EXECUTION_REVERTED, message, Some(data))
            }
            RpcError::LimitExceeded(_) => {
                ErrorObjectOwned::owned(LIMIT_EXCEEDED, message, None::<()>)
            }
            RpcError::SyncTimeout { hash, .. } => {
                ErrorObjectOwned::owned(SYNC_TIMEOUT, message, Some(hash))
            }
            RpcError::NotReady { hash, .. } => {
                ErrorObjectOwned::owned(SYNC_NOT_READY, message, Some(hash))
            }
            RpcError::HeaderNotFound
            | RpcError::HistoricalState { .. }
            | RpcError::ViewState(_)
            | RpcError::Execution(_)
            | RpcError::EvmTimeout(_) => ErrorObjectOwned::owned(SERVER_ERROR, message, None::<()>),
        }
    }
}

/// Result of an RPC method.
pub type RpcResult<T> = Result<T, RpcError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: RpcError) -> i32 {
        ErrorObjectOwned::from(e).code()
    }

    #[test]
    fn codes_follow_geth_and_eip_1474() {
        assert_eq!(code(RpcError::Ingress(IngressError::Busy)), LIMIT_EXCEEDED);
        assert_eq!(
            code(RpcError::Ingress(IngressError::Decode("x".into()))),
            INVALID_PARAMS
        );
        let low = IngressError::NonceTooLow { next: 2, nonce: 1 };
        let obj = ErrorObjectOwned::from(RpcError::Ingress(low));
        assert_eq!(obj.code(), SERVER_ERROR);
        assert!(obj.message().starts_with("nonce too low"));
        let reverted = ErrorObjectOwned::from(RpcError::Reverted {
            reason: Some("nope".into()),
            data: Bytes::from_static(&[1, 2]),
        });
        assert_eq!(reverted.code(), EXECUTION_REVERTED);
        assert_eq!(reverted.message(), "execution reverted: nope");
        assert_eq!(reverted.data().unwrap().get(), "\"0x0102\"");
        assert_eq!(code(RpcError::LimitExceeded("x".into())), LIMIT_EXCEEDED);
        assert_eq!(code(RpcError::InvalidParams("x".into())), INVALID_PARAMS);
    }

    #[test]
    fn store_errors_hide_internals() {
        let obj =
            ErrorObjectOwned::from(RpcError::Store(StoreError::Corrupt("secret path".into())));
        assert_eq!(obj.code(), INTERNAL_ERROR);
        assert!(!obj.message().contains("secret"));
    }
}

//! The batcher's errors.

/// A batch that does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// Fewer bytes than the format needs.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A payload of a version this decoder does not know.
    #[error("unknown derivation version {0}")]
    UnknownVersion(u8),
    /// A channel of a codec this decoder does not know.
    #[error("unknown channel codec {0}")]
    UnknownCodec(u8),
    /// A frame's `is_last` byte other than 0 or 1.
    #[error("frame flag {0} is neither 0 nor 1")]
    BadFlag(u8),
    /// The compressed data is corrupt.
    #[error("cannot decompress: {0}")]
    Decompress(String),
    /// A channel decompresses to more than the limit.
    #[error("channel decompresses to more than {0} bytes")]
    TooLarge(usize),
}

/// A failure talking to the L1 node.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    /// The request did not get an answer (connection refused, timeout, ...).
    #[error("L1 node unreachable: {0}")]
    Transport(String),
    /// The node answered with a JSON-RPC error.
    #[error("L1 node error {code}: {message}")]
    Rpc {
        /// JSON-RPC code.
        code: i64,
        /// Message.
        message: String,
        /// The error's `data`, when it is hex (an `eth_call`'s revert data).
        data: Option<alloy_primitives::Bytes>,
    },
    /// The answer is not what the method returns.
    #[error("unexpected answer to {method}: {detail}")]
    Decode {
        /// The method.
        method: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// The batcher's own state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// redb failed.
    #[error("batcher database: {0}")]
    Db(String),
    /// A record does not decode.
    #[error("batcher database record: {0}")]
    Corrupt(String),
}

macro_rules! db_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StateError {
            fn from(e: $t) -> Self {
                StateError::Db(e.to_string())
            }
        }
    )*};
}
db_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Why the batcher stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum BatcherError {
    /// Configuration.
    #[error("batcher configuration: {0}")]
    Config(String),
    /// Its database.
    #[error(transparent)]
    State(#[from] StateError),
    /// The L2 chain's store.
    #[error("reading sealed blocks: {0}")]
    Chain(#[from] peregrine_chain::StoreError),
    /// The L1 node, at start-up.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// Building a blob sidecar.
    #[error("building blobs: {0}")]
    Kzg(String),
}

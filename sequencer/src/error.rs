//! Errors of the ordering core (the chain's own are `peregrine_chain::error`'s).

pub use peregrine_chain::error::{IngressError, OpenError, StoreError};

/// Failure to start the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chain in the data directory cannot be opened or created.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Invalid configuration or genesis.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The write-ahead log cannot be opened, read or replayed.
    #[error(transparent)]
    Wal(#[from] WalError),
    /// A thread could not be spawned or pinned.
    #[error("thread: {0}")]
    Thread(String),
}

/// Errors of the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// Reading or writing a file failed.
    #[error("write-ahead log {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A record that is not at the tail fails its checksum or does not decode.
    #[error("write-ahead log {} is corrupt at byte {offset}: {reason}; refusing to start rather than drop what follows. To go on without the records from there on (they may have been acknowledged), run `peregrine wal cut {} --offset {offset}`", path.display(), path.display())]
    Corrupt {
        /// The segment.
        path: std::path::PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The configured backend cannot run here.
    #[error("write-ahead log backend: {0}")]
    Backend(String),
    /// Replay did not reproduce what the log says.
    #[error("replaying the write-ahead log: {0}")]
    Replay(String),
}

impl WalError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

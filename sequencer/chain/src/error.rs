//! Errors of the chain: storage, opening a data directory, refused transactions.

use alloy_primitives::B256;

/// Failure in the redb store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened.
    #[error("database: {0}")]
    Database(#[from] redb::DatabaseError),
    /// A transaction could not be started.
    #[error("database transaction: {0}")]
    Transaction(#[from] redb::TransactionError),
    /// A table could not be opened.
    #[error("database table: {0}")]
    Table(#[from] redb::TableError),
    /// Reading or writing failed.
    #[error("database storage: {0}")]
    Storage(#[from] redb::StorageError),
    /// A commit failed.
    #[error("database commit: {0}")]
    Commit(#[from] redb::CommitError),
    /// A commit's durability could not be lowered.
    #[error("database durability: {0}")]
    Durability(#[from] redb::SetDurabilityError),
    /// The database file could not be opened or flushed.
    #[error("database file: {0}")]
    File(#[from] std::io::Error),
    /// Stored bytes do not decode.
    #[error("database is corrupt: {0}")]
    Corrupt(String),
}

/// Why ingress refused a transaction. Each kind maps to a JSON-RPC error in `peregrine-rpc`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngressError {
    /// Larger than `max-tx-size`.
    #[error("oversized data: transaction is {size} bytes, the limit is {limit}")]
    Oversized {
        /// Size of the raw transaction.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The bytes are not a valid EIP-2718 transaction.
    #[error("invalid raw transaction: {0}")]
    Decode(String),
    /// An EIP-4844 blob transaction (or another type this chain does not accept).
    #[error("transaction type not supported: {0}")]
    UnsupportedType(&'static str),
    /// Pre-EIP-155 legacy transaction.
    #[error("only replay-protected (EIP-155) transactions allowed over RPC")]
    NotReplayProtected,
    /// Signed for another chain.
    #[error("invalid chain id: expected {expected}, got {got}")]
    WrongChainId {
        /// This chain's id.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// The signature does not recover.
    #[error("invalid sender: {0}")]
    InvalidSignature(String),
    /// Gas limit below the intrinsic cost.
    #[error("intrinsic gas too low: gas {gas}, minimum needed {needed}")]
    IntrinsicGas {
        /// The transaction's gas limit.
        gas: u64,
        /// Intrinsic gas.
        needed: u64,
    },
    /// Gas limit above the block gas limit.
    #[error("exceeds block gas limit: gas {gas}, block gas limit {limit}")]
    GasLimit {
        /// The transaction's gas limit.
        gas: u64,
        /// Block gas limit.
        limit: u64,
    },
    /// Priority fee above max fee.
    #[error("max priority fee per gas higher than max fee per gas")]
    TipAboveFeeCap,
    /// Max fee below the base fee.
    #[error(
        "max fee per gas less than block base fee: maxFeePerGas: {max_fee}, baseFee: {base_fee}"
    )]
    FeeCapTooLow {
        /// The transaction's max fee per gas.
        max_fee: u128,
        /// The pending block's base fee.
        base_fee: u64,
    },
    /// Nonce already used.
    #[error("nonce too low: next nonce {next}, tx nonce {nonce}")]
    NonceTooLow {
        /// Sender's next nonce.
        next: u64,
        /// Transaction nonce.
        nonce: u64,
    },
    /// Balance below gas * price + value.
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}")]
    InsufficientFunds {
        /// Sender balance.
        balance: alloy_primitives::U256,
        /// gas * max fee + value.
        cost: alloy_primitives::U256,
    },
    /// gas * max fee + value does not fit in 256 bits.
    #[error("insufficient funds for gas * price + value: tx cost overflows 256 bits")]
    CostOverflow,
    /// More gas than one transaction may use (EIP-7825).
    #[error("exceeds maximum per-transaction gas limit: gas {gas}, limit {limit}")]
    TxGasCap {
        /// Gas limit of the transaction.
        gas: u64,
        /// `sequencer.max-tx-gas`.
        limit: u64,
    },
    /// The sender's transaction with this nonce is held for a gap, and the new one does
    /// not raise both fees by the price bump.
    #[error("replacement transaction underpriced: raise both fees by at least {bump_percent}%")]
    ReplacementUnderpriced {
        /// The required bump.
        bump_percent: u128,
    },
    /// The sender's transaction with this nonce is already on its way to execution.
    #[error("a transaction with nonce {nonce} from this sender is already being sequenced")]
    NonceInFlight {
        /// The nonce.
        nonce: u64,
    },
    /// The nonce is further ahead of the sender's next one than the gap queue may hold.
    #[error(
        "nonce too far ahead: the sender's next nonce is {next} with {in_flight} in flight, \
         tx nonce {nonce}; at most {limit} future nonces are held (sequencer.max-queued-per-sender)"
    )]
    NonceTooFarAhead {
        /// The sender's next nonce at `pending`.
        next: u64,
        /// The sender's transactions in flight.
        in_flight: usize,
        /// Nonce of the transaction.
        nonce: u64,
        /// `sequencer.max-queued-per-sender`.
        limit: usize,
    },
    /// The sender has as many transactions in flight as one sender may.
    #[error(
        "sender has {in_flight} transactions in flight, the limit is {limit} \
         (sequencer.max-inflight-per-sender); retry once some are preconfirmed"
    )]
    SenderBusy {
        /// The sender's transactions in flight.
        in_flight: usize,
        /// `sequencer.max-inflight-per-sender`.
        limit: usize,
    },
    /// The same transaction was already accepted.
    #[error("already known")]
    AlreadyKnown(B256),
    /// The ring is full: the sequencer is saturated.
    #[error("sequencer busy: ingress queue is full, retry later")]
    Busy,
    /// Too much sealed data waits for L1 (the batcher's back-pressure).
    #[error(
        "sequencer paused: {bytes} bytes of sealed blocks wait to be posted to L1, over \
         batcher.max-backlog ({limit}); retry later"
    )]
    L1Backlog {
        /// Bytes waiting.
        bytes: u64,
        /// `batcher.max-backlog`.
        limit: u64,
    },
    /// The node is shutting down.
    #[error("sequencer is shutting down")]
    ShuttingDown,
    /// A part of the node failed; it takes no more work until restarted.
    #[error("the sequencer failed and takes no more transactions: {0}")]
    Failed(String),
}

/// Failure to open (or create) a chain in a data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Invalid configuration or genesis, or another chain's data directory.
    #[error("invalid configuration: {0}")]
    Config(String),
}

//! Errors of key loading and of preconfirmation verification.

use std::path::PathBuf;

use alloy_primitives::{Address, B256};

/// Why a sequencer key could not be loaded. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read sequencer key file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file does not hold a hex-encoded 32-byte private key.
    #[error("sequencer key file {} does not hold a 32-byte hex private key: {reason}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents (the contents themselves are never repeated).
        reason: String,
    },
    /// The 32 bytes are not a valid secp256k1 private key (zero, or not below the curve order).
    #[error("not a valid secp256k1 private key: zero or not below the curve order")]
    InvalidScalar,
}

/// Why a preconfirmation did not verify, or did not parse. Each variant names the one check
/// that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The JSON form is malformed: a field is missing, unknown, of the wrong type, or holds a
    /// value other than the one Peregrine signs (domain name or version, `types`,
    /// `primaryType`, a domain `chainId` differing from the message's).
    #[error("malformed preconfirmation JSON at `{field}`: {reason}")]
    Json {
        /// Path of the offending field, such as `typedData.message.blockNumber`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The signature is malformed or does not recover to any address.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The signature recovers, but to another address than the expected sequencer.
    #[error("wrong signer: expected {expected}, got {got}")]
    WrongSigner {
        /// The sequencer address the caller expected.
        expected: Address,
        /// The address the signature recovers to.
        got: Address,
    },
    /// The transaction proof does not lead from the transaction's leaf to `transactionsRoot`.
    #[error(
        "transaction proof does not lead from transaction {index} ({tx_hash}) to transactionsRoot {root}"
    )]
    TransactionProof {
        /// Claimed position in the mini-block.
        index: u32,
        /// Claimed transaction hash.
        tx_hash: B256,
        /// The signed root.
        root: B256,
    },
    /// The receipt proof does not lead from the receipt's leaf to `receiptsRoot`.
    #[error(
        "receipt proof does not lead from the receipt of transaction {index} to receiptsRoot {root}"
    )]
    ReceiptProof {
        /// Claimed position in the mini-block.
        index: u32,
        /// The signed root.
        root: B256,
    },
}

impl VerifyError {
    /// A shorthand for [`VerifyError::Json`].
    pub(crate) fn json(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Json {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Whether the input could not even be parsed (as opposed to parsing and failing a check).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::Json { .. })
    }
}

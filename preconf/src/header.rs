//! The signed object: a mini-block header, hashed and signed as EIP-712 typed data.

use alloy_primitives::{Address, B256, Signature};
use alloy_sol_types::{Eip712Domain, SolStruct, eip712_domain, sol};

use crate::error::VerifyError;

/// EIP-712 domain `name` of every Peregrine signature.
pub const DOMAIN_NAME: &str = "Peregrine";

/// EIP-712 domain `version` of every Peregrine signature.
pub const DOMAIN_VERSION: &str = "1";

sol! {
    /// The header of a mini-block: what the sequencer signs.
    ///
    /// Its EIP-712 digest under [`domain`]`(chainId)` ([`MiniBlockHeader::signing_hash`]) is
    /// both the message the sequencer signs and the mini-block's hash, which the next
    /// mini-block names as its `parentHash`.
    #[derive(Debug, Copy, PartialEq, Eq, Hash, Default)]
    struct MiniBlockHeader {
        /// L2 chain id; also the `chainId` of the EIP-712 domain.
        uint64 chainId;
        /// Number of the L2 block this mini-block belongs to.
        uint64 blockNumber;
        /// Position of this mini-block within its L2 block, from 0.
        uint64 miniBlockNumber;
        /// Signing hash of the previous mini-block (zero for the chain's first one).
        bytes32 parentHash;
        /// Global sequence number of this mini-block's first transaction.
        uint64 firstSequence;
        /// Merkle root over [`transaction_leaf`](crate::transaction_leaf)s.
        bytes32 transactionsRoot;
        /// Merkle root over [`ReceiptLeaf::leaf`](crate::ReceiptLeaf::leaf)s.
        bytes32 receiptsRoot;
        /// Merkle root over [`AccountDiffLeaf::leaf`](crate::AccountDiffLeaf::leaf)s.
        bytes32 stateDiffRoot;
        /// When the mini-block was closed, in microseconds since the Unix epoch.
        uint64 timestampMicros;
    }
}

/// The EIP-712 domain of chain `chain_id`: `name`, `version` and `chainId` only (no
/// `verifyingContract`, no `salt`).
pub fn domain(chain_id: u64) -> Eip712Domain {
    eip712_domain! {
        name: DOMAIN_NAME,
        version: DOMAIN_VERSION,
        chain_id: chain_id,
    }
}

impl MiniBlockHeader {
    /// EIP-712 digest `keccak256(0x1901 || domainSeparator || hashStruct(header))` under
    /// [`domain`]`(self.chainId)`. Also the mini-block's hash.
    pub fn signing_hash(&self) -> B256 {
        self.eip712_signing_hash(&domain(self.chainId))
    }
}

/// A header with the sequencer's signature over its [`MiniBlockHeader::signing_hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedHeader {
    /// The signed header.
    pub header: MiniBlockHeader,
    /// secp256k1 signature over `header.signing_hash()`.
    pub signature: Signature,
}

impl SignedHeader {
    /// The mini-block's hash: `header.signing_hash()`.
    pub fn hash(&self) -> B256 {
        self.header.signing_hash()
    }

    /// The address that signed this header.
    ///
    /// Signatures with a high `s` (above half the curve order) are refused, as OpenZeppelin's
    /// `ECDSA.recover` does, so that each header has exactly one valid signature per key.
    pub fn recover_signer(&self) -> Result<Address, VerifyError> {
        if self.signature.normalize_s().is_some() {
            return Err(VerifyError::BadSignature(
                "s is in the upper half of the curve order (malleable signature)".into(),
            ));
        }
        self.signature
            .recover_address_from_prehash(&self.hash())
            .map_err(|e| VerifyError::BadSignature(e.to_string()))
    }
}

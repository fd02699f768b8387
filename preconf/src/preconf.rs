//! The preconfirmation: a signed header, one transaction's position and outcome, and the two
//! proofs tying them to the header.

use alloy_primitives::{Address, B256};
use serde::Serialize;

use crate::error::VerifyError;
use crate::header::SignedHeader;
use crate::leaf::{ReceiptLeaf, transaction_leaf};
use crate::merkle::verify_proof;

/// When the transaction passed each stage on the sequencer, in microseconds since the Unix
/// epoch. Informative only: these are **not** signed, and tampering with them goes unnoticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageTimestamps {
    /// Accepted by the RPC server.
    pub received: u64,
    /// Given its sequence number by the sequencer loop.
    pub ordered: u64,
    /// Executed.
    pub executed: u64,
    /// Its mini-block's header signed.
    pub signed: u64,
    /// This preconfirmation handed to the transport.
    pub sent: u64,
}

/// A sequencer's signed promise that a transaction is included at `index` of a mini-block with
/// the outcome in `receipt`. Checkable from its own bytes with [`Preconfirmation::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preconfirmation {
    /// The mini-block header and the sequencer's signature over it.
    pub header: SignedHeader,
    /// Position of the transaction in the mini-block, from 0.
    pub index: u32,
    /// The transaction's hash and outcome.
    pub receipt: ReceiptLeaf,
    /// Proof of [`transaction_leaf`]`(index, receipt.tx_hash)` against `transactionsRoot`.
    pub transaction_proof: Vec<B256>,
    /// Proof of `receipt.leaf(index)` against `receiptsRoot`.
    pub receipt_proof: Vec<B256>,
    /// Stage timestamps (unsigned).
    pub timestamps: StageTimestamps,
}

/// What a verified preconfirmation guarantees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// The address that signed the header.
    pub signer: Address,
    /// L2 chain id.
    pub chain_id: u64,
    /// L2 block number.
    pub block_number: u64,
    /// Mini-block number: chain-wide, from 0, without gaps.
    pub mini_block_number: u64,
    /// The mini-block's hash (its header's signing hash).
    pub mini_block_hash: B256,
    /// Position of the transaction in the mini-block.
    pub index: u32,
    /// The transaction's hash.
    pub tx_hash: B256,
    /// Whether it succeeded.
    pub success: bool,
    /// Gas it used.
    pub gas_used: u64,
}

impl Preconfirmation {
    /// Checks, in order: the signature recovers (low `s`), to `expected_signer` if given; the
    /// transaction proof leads to `transactionsRoot`; the receipt proof leads to
    /// `receiptsRoot`. The first failing check is the error.
    ///
    /// Without `expected_signer` this only proves that *someone* signed: the caller must then
    /// judge [`Verified::signer`] itself.
    pub fn verify(&self, expected_signer: Option<Address>) -> Result<Verified, VerifyError> {
        let signer = self.header.recover_signer()?;
        if let Some(expected) = expected_signer
            && signer != expected
        {
            return Err(VerifyError::WrongSigner {
                expected,
                got: signer,
            });
        }
        let header = &self.header.header;
        let tx_hash = self.receipt.tx_hash;
        if !verify_proof(
            header.transactionsRoot,
            transaction_leaf(self.index, tx_hash),
            &self.transaction_proof,
        ) {
            return Err(VerifyError::TransactionProof {
                index: self.index,
                tx_hash,
                root: header.transactionsRoot,
            });
        }
        if !verify_proof(
            header.receiptsRoot,
            self.receipt.leaf(self.index),
            &self.receipt_proof,
        ) {
            return Err(VerifyError::ReceiptProof {
                index: self.index,
                root: header.receiptsRoot,
            });
        }
        Ok(Verified {
            signer,
            chain_id: header.chainId,
            block_number: header.blockNumber,
            mini_block_number: header.miniBlockNumber,
            mini_block_hash: self.header.hash(),
            index: self.index,
            tx_hash,
            success: self.receipt.success,
            gas_used: self.receipt.gas_used,
        })
    }
}

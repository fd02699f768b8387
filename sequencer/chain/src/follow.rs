//! What a follower of the signed mini-block stream (a replica, #9) checks before it uses a
//! record: the record is the next one, continues the chain, is signed by the sequencer's
//! key, and its payload is what the signed header commits to. Anything else is refused,
//! with a [`Rejection`] whose [`Rejection::reason`] names it (a bounded metric label).
//!
//! Raw transactions are checked against the signed transaction hashes, senders against
//! `sendersHash`, the block context against `blockContextHash`. Block ends are checked
//! where they are applied ([`crate::apply`]), against the sequencer's signed seal.

use crate::record::{MiniBlockRecord, diff_leaves};
use alloy_primitives::{Address, B256, Signature, keccak256};
use peregrine_preconf::{
    MerkleTree, MiniBlockHeader, SignedSeal, logs_hash, senders_hash, transaction_leaf,
};

/// Why a record from the stream is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Another chain's record.
    #[error("chain id {got}, this chain is {expected}")]
    WrongChain {
        /// In the record.
        got: u64,
        /// Followed.
        expected: u64,
    },
    /// Not the next mini-block: a gap, a replay, or two swapped.
    #[error("mini-block {got} where {expected} is next")]
    WrongNumber {
        /// In the record.
        got: u64,
        /// The next one.
        expected: u64,
    },
    /// Its parent is not the last mini-block accepted.
    #[error("parent {got} does not continue the chain at {expected}")]
    WrongParent {
        /// In the record.
        got: B256,
        /// The last accepted mini-block's hash.
        expected: B256,
    },
    /// The hash it claims is not its header's EIP-712 digest.
    #[error("claims hash {claimed}, its header's digest is {computed}")]
    WrongHash {
        /// In the record.
        claimed: B256,
        /// Recomputed.
        computed: B256,
    },
    /// The signature is malformed, or recovers to another key than the sequencer's.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A block seal that does not close the mini-blocks accepted (one was dropped, or the
    /// seal names another last mini-block).
    #[error(
        "seal of block {block} ends after mini-block {claimed_next} - 1 ({claimed_last}), \
             but {next} - 1 ({last}) was the last accepted"
    )]
    SealMismatch {
        /// The sealed block.
        block: u64,
        /// The seal's `nextMiniBlock`.
        claimed_next: u64,
        /// The seal's `lastMiniBlockHash`.
        claimed_last: B256,
        /// The follower's next mini-block.
        next: u64,
        /// The follower's last accepted mini-block.
        last: B256,
    },
    /// A raw transaction does not hash to the transaction hash the header commits to.
    #[error("transaction {index}: raw bytes hash to {computed}, the signed hash is {signed}")]
    RawMismatch {
        /// Its position in the mini-block.
        index: usize,
        /// Committed under `transactionsRoot`.
        signed: B256,
        /// keccak256 of the raw bytes.
        computed: B256,
    },
    /// A root in the signed header differs from the one recomputed from the payload.
    #[error("{which} root {signed} differs from the payload's {computed}")]
    RootMismatch {
        /// `transactions`, `receipts`, `stateDiff`, `senders`, `blockContext`, `codes` (a
        /// deployed code against the code hash it is keyed by), or `logs` (a
        /// transaction's logs against the logs hash its receipt commits to).
        which: &'static str,
        /// In the signed header.
        signed: B256,
        /// Recomputed from the record's transactions, receipts or state diff.
        computed: B256,
    },
}

impl Rejection {
    /// A short label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::WrongChain { .. } => "wrong_chain",
            Rejection::WrongNumber { .. } => "wrong_number",
            Rejection::WrongParent { .. } => "wrong_parent",
            Rejection::WrongHash { .. } => "wrong_hash",
            Rejection::BadSignature(_) => "bad_signature",
            Rejection::RawMismatch { .. } => "raw_mismatch",
            Rejection::SealMismatch { .. } => "seal_mismatch",
            Rejection::RootMismatch { .. } => "root_mismatch",
        }
    }
}

/// Where a follower stands: what it accepts next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follower {
    /// The chain followed.
    pub chain_id: u64,
    /// The only key whose signatures are accepted (`--sequencer.address`).
    pub sequencer: Address,
    /// The next mini-block's number.
    pub next: u64,
    /// The last accepted mini-block's hash (zero before the chain's first).
    pub parent: B256,
}

/// A record whose checks that do not depend on its place in the chain passed
/// ([`verify`]): its chain, its header's digest, the sequencer's signature over it, and
/// its payload against the signed roots. Whether it is the next one is
/// [`Follower::accept_verified`]'s part. Only [`verify`] makes one.
#[derive(Debug)]
pub struct Verified {
    record: MiniBlockRecord,
    chain_id: u64,
    sequencer: Address,
}

impl Verified {
    /// The record.
    pub fn record(&self) -> &MiniBlockRecord {
        &self.record
    }

    /// The record, to use it.
    pub fn into_record(self) -> MiniBlockRecord {
        self.record
    }
}

/// The checks of `record` that do not depend on its place in the chain, for the chain
/// `chain_id` signed by `sequencer`: the expensive part of [`Follower::accept`] (a
/// signature recovery, the Merkle roots, the raw transactions' hashes), which can run on
/// another thread than the one applying, ahead of it.
pub fn verify(
    chain_id: u64,
    sequencer: Address,
    record: MiniBlockRecord,
) -> Result<Verified, Rejection> {
    check_chain(&record, chain_id)?;
    check_content(&record, sequencer)?;
    Ok(Verified {
        record,
        chain_id,
        sequencer,
    })
}

impl Follower {
    /// Checks `record` as the next one; on success the follower moves past it.
    pub fn accept(&mut self, record: &MiniBlockRecord) -> Result<(), Rejection> {
        check_chain(record, self.chain_id)?;
        check_position(record, self)?;
        check_content(record, self.sequencer)?;
        self.next = record.number() + 1;
        self.parent = record.hash;
        Ok(())
    }

    /// [`Follower::accept`] for a record [`verify`] passed: only whether it is the next.
    pub fn accept_verified(&mut self, verified: &Verified) -> Result<(), Rejection> {
        if (verified.chain_id, verified.sequencer) != (self.chain_id, self.sequencer) {
            return Err(Rejection::BadSignature(format!(
                "verified for chain {} and key {}, not this follower's",
                verified.chain_id, verified.sequencer
            )));
        }
        let record = &verified.record;
        check_position(record, self)?;
        self.next = record.number() + 1;
        self.parent = record.hash;
        Ok(())
    }

    /// Checks a block seal: this chain's, signed by the sequencer, closing exactly the
    /// mini-blocks accepted so far. (That the block built from them has the sealed hash
    /// is checked where it is built: [`crate::apply::Applier::seal`].)
    pub fn accept_seal(&self, seal: &SignedSeal) -> Result<(), Rejection> {
        let s = &seal.seal;
        if s.chainId != self.chain_id {
            return Err(Rejection::WrongChain {
                got: s.chainId,
                expected: self.chain_id,
            });
        }
        let signer = seal
            .recover_signer()
            .map_err(|e| Rejection::BadSignature(e.to_string()))?;
        if signer != self.sequencer {
            return Err(Rejection::BadSignature(format!(
                "seal signed by {signer}, not by the sequencer {}",
                self.sequencer
            )));
        }
        if s.nextMiniBlock != self.next || s.lastMiniBlockHash != self.parent {
            return Err(Rejection::SealMismatch {
                block: s.blockNumber,
                claimed_next: s.nextMiniBlock,
                claimed_last: s.lastMiniBlockHash,
                next: self.next,
                last: self.parent,
            });
        }
        Ok(())
    }
}

fn check_chain(record: &MiniBlockRecord, chain_id: u64) -> Result<(), Rejection> {
    if record.header.chain_id != chain_id {
        return Err(Rejection::WrongChain {
            got: record.header.chain_id,
            expected: chain_id,
        });
    }
    Ok(())
}

/// Whether `record` is the next one after what `at` accepted.
fn check_position(record: &MiniBlockRecord, at: &Follower) -> Result<(), Rejection> {
    let h = &record.header;
    if h.mini_block_number != at.next {
        return Err(Rejection::WrongNumber {
            got: h.mini_block_number,
            expected: at.next,
        });
    }
    if h.parent_hash != at.parent {
        return Err(Rejection::WrongParent {
            got: h.parent_hash,
            expected: at.parent,
        });
    }
    Ok(())
}

/// Whether `record` is what `sequencer` signed: digest, signature, payload against roots.
fn check_content(record: &MiniBlockRecord, sequencer: Address) -> Result<(), Rejection> {
    let h = &record.header;
    let header = MiniBlockHeader::from(h);
    let computed = header.signing_hash();
    if computed != record.hash {
        return Err(Rejection::WrongHash {
            claimed: record.hash,
            computed,
        });
    }
    let signature = Signature::from_raw(&record.signature)
        .map_err(|e| Rejection::BadSignature(format!("malformed: {e}")))?;
    let signer = peregrine_preconf::recover_checked(&signature, computed)
        .map_err(|e| Rejection::BadSignature(e.to_string()))?;
    if signer != sequencer {
        return Err(Rejection::BadSignature(format!(
            "signed by {signer}, not by the sequencer {sequencer}"
        )));
    }
    let roots = [
        (
            "transactions",
            h.transactions_root,
            MerkleTree::new(
                record
                    .transactions
                    .iter()
                    .enumerate()
                    .map(|(i, t)| transaction_leaf(i as u32, t.hash))
                    .collect(),
            )
            .root(),
        ),
        (
            "receipts",
            h.receipts_root,
            MerkleTree::new(
                record
                    .transactions
                    .iter()
                    .enumerate()
                    .map(|(i, t)| t.receipt_leaf().leaf(i as u32))
                    .collect(),
            )
            .root(),
        ),
        (
            "stateDiff",
            h.state_diff_root,
            MerkleTree::new(diff_leaves(&record.state_diff)).root(),
        ),
    ];
    let context = if record.block.number == h.block_number {
        record.block.fields().hash()
    } else {
        // A context of another block never matches, whatever its hash.
        B256::ZERO
    };
    let roots = roots.into_iter().chain([
        (
            "senders",
            h.senders_hash,
            senders_hash(record.transactions.iter().map(|t| &t.from)),
        ),
        ("blockContext", h.block_context_hash, context),
    ]);
    for (hash, code) in &record.state_diff.codes {
        let computed = keccak256(code);
        if computed != *hash {
            return Err(Rejection::RootMismatch {
                which: "codes",
                signed: *hash,
                computed,
            });
        }
    }
    for (index, t) in record.transactions.iter().enumerate() {
        let computed = keccak256(&t.raw);
        if computed != t.hash {
            return Err(Rejection::RawMismatch {
                index,
                signed: t.hash,
                computed,
            });
        }
        let computed = logs_hash(&t.logs);
        if computed != t.receipt.logs_hash {
            return Err(Rejection::RootMismatch {
                which: "logs",
                signed: t.receipt.logs_hash,
                computed,
            });
        }
    }
    for (which, signed, computed) in roots {
        if signed != computed {
            return Err(Rejection::RootMismatch {
                which,
                signed,
                computed,
            });
        }
    }
    Ok(())
}

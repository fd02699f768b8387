//! Applying signed mini-blocks without the EVM: the replica's path (#9), proven here
//! against the sequencer's own blocks.
//!
//! An [`Applier`] owns a [`Chain`] over its own data directory and drives the same chain
//! service the sequencer's log thread feeds: each mini-block's state diff goes into the
//! read view, its transactions and receipts into the open block and its views, and each
//! block end seals the block (state root, roots, header, one redb write). Nothing is
//! executed: a transaction's receipt is rebuilt from its raw bytes and the fields its
//! record commits to. Every record passes a [`Follower`] first, every seal is the
//! sequencer's signed one, and the block built here must match it exactly. As on the
//! sequencer, a storage failure while applying is fatal: it is recorded and ends the
//! calling thread by unwinding.

use crate::{
    block::{BlockContext, BlockEnd, MiniBlock},
    chain::{Chain, ChainService, Head, SealError, Sealer, ServiceSetup},
    diff::DiffLog,
    error::OpenError,
    feed::Feed,
    follow::{Follower, Rejection, Verified},
    genesis::GenesisSpec,
    record::{MiniBlockRecord, SignedMiniBlock, ViewSlot},
    recycle::Recycled,
    tx::ExecutedTx,
    view::{ViewBuilder, ViewSeed},
};
use alloy_consensus::{
    Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction as _, TxEnvelope, TxType,
};
use alloy_eips::eip2718::Decodable2718;
use alloy_primitives::Address;
use peregrine_preconf::SignedSeal;
use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64},
    },
};

/// Why a mini-block or a block seal cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The follower's checks refused it (signature, numbering, roots, raw bytes).
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// A field the signed roots do not cover disagrees with what the covered ones imply
    /// (a transaction's position, sequence, recipient, created address).
    #[error("mini-block {number}: {why}")]
    Payload {
        /// The mini-block.
        number: u64,
        /// What does not match.
        why: String,
    },
    /// A mini-block or seal of another block than the open one.
    #[error("block {got} given, but block {open} is open")]
    WrongBlock {
        /// In the mini-block or seal.
        got: u64,
        /// The open one.
        open: u64,
    },
    /// The block built here differs from the one the sequencer sealed, or cannot be
    /// stored. Fatal: the replica must stop.
    #[error("cannot seal: {0}")]
    Seal(#[from] SealError),
}

/// Every [`ApplyError::reason`] label, for metrics registered before their first event.
pub const REASONS: &[&str] = &[
    "wrong_chain",
    "wrong_number",
    "wrong_parent",
    "wrong_hash",
    "bad_signature",
    "raw_mismatch",
    "root_mismatch",
    "seal_mismatch",
    "payload_mismatch",
    "wrong_block",
    "store",
];

impl ApplyError {
    /// A short label for metrics and logs (`reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            ApplyError::Rejected(r) => r.reason(),
            ApplyError::Payload { .. } => "payload_mismatch",
            ApplyError::WrongBlock { .. } => "wrong_block",
            ApplyError::Seal(SealError::Mismatch { .. }) => "seal_mismatch",
            ApplyError::Seal(SealError::Store(_)) => "store",
        }
    }
}

/// Where an [`Applier`] keeps its chain.
#[derive(Debug, Clone)]
pub struct ApplierConfig {
    /// Its data directory (its own redb).
    pub datadir: PathBuf,
    /// The chain followed.
    pub chain_id: u64,
    /// The only key whose signatures it accepts, and whose signed records it re-serves.
    pub sequencer: Address,
    /// Base fee of block 0, as the sequencer's genesis had it.
    pub min_base_fee: u64,
    /// Gas limit of block 0.
    pub block_gas_limit: u64,
    /// Sealed blocks between two durable commits.
    pub checkpoint_blocks: u64,
}

/// A chain built by applying another node's mini-blocks (see the module docs).
pub struct Applier {
    service: ChainService,
    views: ViewBuilder,
    follower: Follower,
    /// The open block: gas and logs so far.
    block_gas: u64,
    block_logs: u64,
    block_txs: u32,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("head", &self.service.chain.head().header.number)
            .field("next", &self.follower.next)
            .finish_non_exhaustive()
    }
}

impl Applier {
    /// Opens (or creates from `genesis`, which must be the followed chain's) the chain in
    /// `cfg.datadir`. It continues after the last block sealed there: mini-blocks of a
    /// block that was open when the process stopped are applied again.
    pub fn open(cfg: &ApplierConfig, genesis: &GenesisSpec) -> Result<Self, OpenError> {
        let opened = crate::open::open_chain(
            &cfg.datadir,
            cfg.chain_id,
            genesis,
            cfg.min_base_fee,
            cfg.block_gas_limit,
        )?;
        let next_mini = opened.counters.next_mini_block;
        let feed = Arc::new(Feed::new(
            cfg.sequencer,
            crate::feed::DEFAULT_FEED_CAPACITY,
            crate::feed::DEFAULT_RECENT_MINI_BLOCKS,
            next_mini,
        ));
        let head_number = opened.head.header.number;
        let chain = Arc::new(Chain::new(
            cfg.chain_id,
            opened.state,
            opened.head,
            opened.store,
            opened.hashes,
            feed,
            next_mini,
        ));
        let service = ChainService::new(
            chain,
            ServiceSetup {
                counters: opened.counters,
                last_mini_hash: opened.last_mini_hash,
                checkpoint_blocks: cfg.checkpoint_blocks,
                sealer: Sealer::Expect(None),
                fault: Arc::default(),
                stop: Arc::new(AtomicBool::new(false)),
                checkpoint: Arc::new(AtomicU64::new(head_number)),
                sealing: Arc::new(AtomicBool::new(false)),
            },
        );
        Ok(Self {
            service,
            views: ViewBuilder::default(),
            follower: Follower {
                chain_id: cfg.chain_id,
                sequencer: cfg.sequencer,
                next: next_mini,
                parent: opened.last_mini_hash,
            },
            block_gas: 0,
            block_logs: 0,
            block_txs: 0,
        })
    }

    /// The chain it builds (what `rpc` serves from).
    pub fn chain(&self) -> &Arc<Chain> {
        &self.service.chain
    }

    /// Where a fatal failure (a storage error while applying) is recorded.
    pub fn fault(&self) -> crate::fault::Fault {
        self.service.fault.clone()
    }

    /// Makes every sealed block durable (a clean stop: nothing is applied again).
    pub fn close(mut self) -> Result<(), crate::error::StoreError> {
        if self.service.unsynced > 0 {
            self.service.checkpoint()?;
        }
        Ok(())
    }

    /// Where its follower stands: the chain and key it accepts, the next mini-block.
    pub fn follower(&self) -> Follower {
        self.follower
    }

    /// The number of the next mini-block it needs (what a subscription resumes from).
    pub fn next_mini_block(&self) -> u64 {
        self.follower.next
    }

    /// Checks mini-block `record` ([`Follower::accept`], then the fields the signed roots
    /// do not cover against those they do), applies it to the open block, and publishes it
    /// on this chain's feed as the sequencer signed it. Nothing is applied on an error.
    pub fn apply(&mut self, record: MiniBlockRecord) -> Result<(), ApplyError> {
        self.check_open(&record)?;
        let mut follower = self.follower;
        follower.accept(&record)?;
        self.apply_accepted(record, follower)
    }

    /// [`Applier::apply`] for a record [`crate::follow::verify`] passed (on another thread):
    /// only whether it is the next one is checked here, then the same.
    pub fn apply_verified(&mut self, verified: Verified) -> Result<(), ApplyError> {
        self.check_open(verified.record())?;
        let mut follower = self.follower;
        follower.accept_verified(&verified)?;
        self.apply_accepted(verified.into_record(), follower)
    }

    /// Whether `record` belongs to the open block.
    fn check_open(&self, record: &MiniBlockRecord) -> Result<(), ApplyError> {
        let open = self.service.chain.head().header.number + 1;
        if record.block_number() != open {
            return Err(ApplyError::WrongBlock {
                got: record.block_number(),
                open,
            });
        }
        Ok(())
    }

    /// Applies an accepted record; `follower` is where the follower stands after it (kept
    /// only on success).
    fn apply_accepted(
        &mut self,
        mut record: MiniBlockRecord,
        follower: Follower,
    ) -> Result<(), ApplyError> {
        let number = record.number();
        let ctx = record.block;
        let payload = |why: String| ApplyError::Payload { number, why };
        if let Some(open_ctx) = self.service.chain.pending.read().open.ctx
            && open_ctx != ctx
        {
            return Err(payload(format!(
                "block context {ctx:?} where the open block has {open_ctx:?}"
            )));
        }
        let mut txs = Vec::with_capacity(record.transactions.len());
        let (mut gas, mut logs, mut index) = (self.block_gas, self.block_logs, self.block_txs);
        for (i, recorded) in record.transactions.iter().enumerate() {
            let envelope = TxEnvelope::decode_2718(&mut recorded.raw.as_ref())
                .map_err(|e| payload(format!("transaction {i} does not decode: {e}")))?;
            let created = (envelope.to().is_none() && recorded.receipt.success)
                .then(|| recorded.from.create(envelope.nonce()));
            gas += recorded.receipt.gas_used;
            let derived = [
                (
                    "sequence",
                    recorded.sequence == record.header.first_sequence + i as u64,
                ),
                ("blockIndex", recorded.block_index == index),
                ("firstLogIndex", recorded.first_log_index == logs),
                ("to", recorded.to == envelope.to()),
                ("contractAddress", recorded.contract_address == created),
                (
                    "cumulativeGasUsed",
                    recorded.receipt.cumulative_gas_used == gas,
                ),
            ];
            if let Some((field, _)) = derived.iter().find(|(_, ok)| !ok) {
                return Err(payload(format!(
                    "transaction {i} ({}): {field} is not what its position and signed \
                     fields imply",
                    recorded.hash
                )));
            }
            index += 1;
            logs += recorded.logs.len() as u64;
            let receipt = receipt_of(
                envelope.tx_type(),
                recorded.receipt.success,
                recorded.receipt.cumulative_gas_used,
                recorded.logs.clone(),
            );
            txs.push(ExecutedTx {
                seq: recorded.sequence,
                hash: recorded.hash,
                sender: recorded.from,
                effective_gas_price: envelope.effective_gas_price(Some(ctx.base_fee)),
                envelope,
                receipt,
                gas_used: recorded.receipt.gas_used,
                contract_address: recorded.contract_address,
                index_in_block: recorded.block_index,
                first_log_index: recorded.first_log_index,
                received_us: recorded.received,
                ordered_us: recorded.ordered,
                executed_us: recorded.executed,
            });
        }
        self.follower = follower;
        (self.block_gas, self.block_logs, self.block_txs) = (gas, logs, index);
        let parts = self.views.push(
            ctx.number,
            txs.iter().map(|t: &ExecutedTx| (&t.envelope, &t.receipt)),
        );
        record.view = ViewSlot::filled(ViewSeed { ctx, parts });
        let mini = MiniBlock {
            number,
            block: ctx,
            first_seq: record.header.first_sequence,
            txs: Recycled::detached(txs),
            diff: Recycled::detached(DiffLog::default()),
            closed_us: record.header.timestamp_micros,
            signed_us: Some(record.signed),
        };
        let signed = Arc::new(SignedMiniBlock {
            mini,
            record: Arc::new(record),
        });
        self.service.chain.feed.publish(&signed);
        self.service.apply(signed);
        Ok(())
    }

    /// Seals the open block with the sequencer's signed `seal`: the seal is checked
    /// ([`Follower::accept_seal`]), the block is built here (state root, roots, header),
    /// and its seal must equal the signed one field for field, or nothing is stored and
    /// [`ApplyError::Seal`] says why. `ctx` is the block's context: that of its
    /// mini-blocks, or, for a block without any, the one the seal's hash covers.
    pub fn seal(&mut self, seal: SignedSeal, ctx: BlockContext) -> Result<Head, ApplyError> {
        let open = self.service.chain.head().header.number + 1;
        if seal.seal.blockNumber != open || ctx.number != open {
            return Err(ApplyError::WrongBlock {
                got: seal.seal.blockNumber,
                open,
            });
        }
        self.follower.accept_seal(&seal)?;
        let ctx = self.service.chain.pending.read().open.ctx.unwrap_or(ctx);
        self.service.sealer = Sealer::Expect(Some(seal));
        let end = BlockEnd {
            ctx,
            gas_used: self.block_gas,
        };
        self.service.seal_and_checkpoint(end)?;
        (self.block_gas, self.block_logs, self.block_txs) = (0, 0, 0);
        Ok(self.service.chain.head())
    }
}

/// The receipt a transaction of type `ty` got, from the fields its record commits to.
fn receipt_of(
    ty: TxType,
    success: bool,
    cumulative_gas_used: u64,
    logs: Vec<alloy_primitives::Log>,
) -> ReceiptEnvelope {
    let with_bloom = ReceiptWithBloom::from(Receipt {
        status: Eip658Value::Eip658(success),
        cumulative_gas_used,
        logs,
    });
    match ty {
        TxType::Legacy => ReceiptEnvelope::Legacy(with_bloom),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(with_bloom),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(with_bloom),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(with_bloom),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(with_bloom),
    }
}

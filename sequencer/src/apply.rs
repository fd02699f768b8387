//! Applying signed mini-blocks without the EVM: the replica's path (#9), proven here
//! against the sequencer's own blocks.
//!
//! An [`Applier`] owns a [`Chain`] over its own data directory and drives the same chain
//! service the sequencer's log thread feeds: each mini-block's state diff goes into the
//! read view, its transactions and receipts into the open block and its views, and each
//! block end seals the block (state root, roots, header, one redb write). Nothing is
//! executed: a transaction's receipt is rebuilt from its raw bytes and the fields its
//! record commits to. The records should have passed [`crate::follow::Follower`] first.
//!
//! What the stream does not carry yet (raw transactions, the block context, block ends:
//! `docs/design/001-replicas.md`) is passed in by the caller. As on the sequencer, a
//! storage failure is fatal: it is recorded and ends the calling thread by unwinding.

use crate::{
    block::{BlockContext, BlockEnd, MiniBlock},
    chain::{Chain, ChainService, Head},
    diff::{DiffLog, StateDiff},
    error::NodeError,
    feed::Feed,
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
use alloy_primitives::{Address, Bytes};
use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64},
    },
};

/// Why a mini-block or a block end cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The raw transactions given do not match the record.
    #[error("mini-block {number}: {why}")]
    Payload {
        /// The mini-block.
        number: u64,
        /// What does not match.
        why: String,
    },
    /// A mini-block or block end of another block than the open one.
    #[error("block {got} given, but block {open} is open")]
    WrongBlock {
        /// The block end's.
        got: u64,
        /// The open one.
        open: u64,
    },
}

/// Where an [`Applier`] keeps its chain.
#[derive(Debug, Clone)]
pub struct ApplierConfig {
    /// Its data directory (its own redb).
    pub datadir: PathBuf,
    /// The chain followed.
    pub chain_id: u64,
    /// The key whose signed records it re-serves.
    pub sequencer: Address,
    /// Base fee and gas limit of block 0, as the sequencer's genesis had them.
    pub min_base_fee: u64,
    /// Gas limit of block 0.
    pub block_gas_limit: u64,
}

/// A chain built by applying another node's mini-blocks (see the module docs).
pub struct Applier {
    service: ChainService,
    views: ViewBuilder,
    /// Keeps the chain service's (unused) input open.
    _events: std::sync::mpsc::SyncSender<crate::signer::Signed>,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("head", &self.service.chain.head().header.number)
            .finish_non_exhaustive()
    }
}

impl Applier {
    /// Opens (or creates from `genesis`, which must be the followed chain's) the chain in
    /// `cfg.datadir`.
    pub fn open(cfg: &ApplierConfig, genesis: &GenesisSpec) -> Result<Self, NodeError> {
        let opened = crate::node::open_chain(
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
        let (events, events_rx) = std::sync::mpsc::sync_channel(1);
        let service = ChainService {
            chain,
            events: events_rx,
            counters: opened.counters,
            block_diff: StateDiff::default(),
            metrics: crate::metrics::ChainMetrics::new(),
            checkpoint: Arc::new(AtomicU64::new(head_number)),
            sealing: Arc::new(AtomicBool::new(false)),
            writer: None,
            unwritten: Vec::new(),
            checkpoint_blocks: crate::config::DEFAULT_CHECKPOINT_BLOCKS,
            unsynced: 0,
            fault: Arc::default(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        Ok(Self {
            service,
            views: ViewBuilder::default(),
            _events: events,
        })
    }

    /// The chain it builds (what `rpc` serves from).
    pub fn chain(&self) -> &Arc<Chain> {
        &self.service.chain
    }

    /// Applies mini-block `record` of the block `ctx` describes, whose transactions are
    /// `raw` (EIP-2718 bytes, in order), and publishes it on this chain's feed as signed.
    pub fn apply(
        &mut self,
        mut record: MiniBlockRecord,
        ctx: BlockContext,
        raw: &[Bytes],
    ) -> Result<(), ApplyError> {
        let number = record.number();
        let open = self.service.chain.head().header.number + 1;
        if record.block_number() != open || ctx.number != open {
            return Err(ApplyError::WrongBlock {
                got: record.block_number(),
                open,
            });
        }
        let payload = |why: String| ApplyError::Payload { number, why };
        if raw.len() != record.transactions.len() {
            return Err(payload(format!(
                "{} raw transactions for {} recorded",
                raw.len(),
                record.transactions.len()
            )));
        }
        let mut txs = Vec::with_capacity(raw.len());
        for (bytes, recorded) in raw.iter().zip(&record.transactions) {
            let envelope = TxEnvelope::decode_2718(&mut bytes.as_ref())
                .map_err(|e| payload(format!("undecodable transaction: {e}")))?;
            if *envelope.tx_hash() != recorded.hash {
                return Err(payload(format!(
                    "raw transaction {} where {} is recorded",
                    envelope.tx_hash(),
                    recorded.hash
                )));
            }
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

    /// Seals the open block as `end` describes and returns the new head.
    pub fn end_block(&mut self, end: BlockEnd) -> Result<Head, ApplyError> {
        let open = self.service.chain.head().header.number + 1;
        if end.ctx.number != open {
            return Err(ApplyError::WrongBlock {
                got: end.ctx.number,
                open,
            });
        }
        if let Err(e) = self.service.seal(end) {
            self.service.fail(format!("cannot store sealed block: {e}"));
        }
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

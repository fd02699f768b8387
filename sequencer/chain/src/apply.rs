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
//!
//! The chain service runs on the calling thread ([`Applier::open`]: every error comes
//! back at once, for tests and benchmarks) or on a thread of its own
//! ([`Applier::with_chain_thread`], the replica's): then, as on the sequencer, a block's
//! seal (its state root and redb commit, tens of milliseconds at 5k tx/s) no longer holds
//! up the next mini-blocks' checks and publication. A mini-block is on this chain's feed
//! once checked; `pending` reads wait until the chain thread has applied every announced
//! one ([`Chain::pending_view`]). A seal that differs is then found on the chain thread,
//! which stops the replica (the [`Applier::fault`]) as the calling thread would.

use crate::{
    block::{BlockContext, BlockEnd, MiniBlock},
    chain::{Chain, ChainService, SealError, Sealer, ServiceSetup},
    diff::DiffLog,
    error::OpenError,
    fault::Fault,
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
    /// The chain thread has stopped (its cause is the [`Applier::fault`]). Fatal.
    #[error("the chain thread has stopped: {0}")]
    Stopped(String),
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
    "stopped",
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
            ApplyError::Stopped(_) => "stopped",
        }
    }

    /// Whether the replica must stop for good (a block that differs from the signed seal,
    /// a storage failure), rather than refuse the item and ask for it again.
    pub fn is_fatal(&self) -> bool {
        matches!(self, ApplyError::Seal(_) | ApplyError::Stopped(_))
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
    chain: Arc<Chain>,
    fault: Fault,
    sink: Sink,
    views: ViewBuilder,
    follower: Follower,
    /// The open block's number: the next seal's. Kept here, not read from the chain's
    /// head, which a chain thread moves later.
    open: u64,
    /// The open block's context, once one of its mini-blocks gave it.
    open_ctx: Option<BlockContext>,
    /// The open block: gas and logs so far.
    block_gas: u64,
    block_logs: u64,
    block_txs: u32,
}

/// Where checked mini-blocks and seals are applied.
enum Sink {
    /// On the calling thread.
    Inline(Box<ChainService>),
    /// On a chain thread, in order.
    Thread(ChainThread),
}

/// The chain thread: the chain service, fed through a bounded queue.
struct ChainThread {
    ops: std::sync::mpsc::SyncSender<ChainOp>,
    thread: std::thread::JoinHandle<()>,
}

/// What the chain thread is told, in stream order.
enum ChainOp {
    /// Apply a checked mini-block.
    Apply(Arc<SignedMiniBlock>),
    /// Seal the open block; the built block must match `seal`.
    Seal {
        end: BlockEnd,
        seal: Box<SignedSeal>,
    },
    /// Answer once everything before is applied.
    Flush(std::sync::mpsc::SyncSender<()>),
}

impl ChainOp {
    /// Carries this out on `service` (on whichever thread runs it).
    fn run_on(self, service: &mut ChainService) -> Result<(), SealError> {
        match self {
            ChainOp::Apply(signed) => service.apply(signed),
            ChainOp::Seal { end, seal } => {
                service.sealer = Sealer::Expect(Some(*seal));
                service.seal_and_checkpoint(end)?;
            }
            ChainOp::Flush(done) => {
                let _ = done.send(());
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("head", &self.chain.head().header.number)
            .field("open", &self.open)
            .field("next", &self.follower.next)
            .finish_non_exhaustive()
    }
}

impl Applier {
    /// Opens (or creates from `genesis`, which must be the followed chain's) the chain in
    /// `cfg.datadir`. It continues after the last block sealed there: mini-blocks of a
    /// block that was open when the process stopped are applied again. The chain service
    /// runs on the calling thread until [`Applier::with_chain_thread`].
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
        let fault = Fault::default();
        let service = ChainService::new(
            chain.clone(),
            ServiceSetup {
                counters: opened.counters,
                last_mini_hash: opened.last_mini_hash,
                checkpoint_blocks: cfg.checkpoint_blocks,
                sealer: Sealer::Expect(None),
                fault: fault.clone(),
                stop: Arc::new(AtomicBool::new(false)),
                checkpoint: Arc::new(AtomicU64::new(head_number)),
                sealing: Arc::new(AtomicBool::new(false)),
            },
        );
        Ok(Self {
            chain,
            fault,
            sink: Sink::Inline(Box::new(service)),
            views: ViewBuilder::default(),
            follower: Follower {
                chain_id: cfg.chain_id,
                sequencer: cfg.sequencer,
                next: next_mini,
                parent: opened.last_mini_hash,
            },
            open: head_number + 1,
            open_ctx: None,
            block_gas: 0,
            block_logs: 0,
            block_txs: 0,
        })
    }

    /// Moves the chain service to a thread of its own (`peregrine-chain`, at `nice` when
    /// not 0, as the sequencer's), fed through a queue of at most `queue` items: a
    /// mini-block then waits for a seal only when that queue is full. A seal that
    /// differs from the sequencer's, or a storage failure, ends that thread with its
    /// cause in [`Applier::fault`]; the calls after it return [`ApplyError::Stopped`].
    pub fn with_chain_thread(mut self, queue: usize, nice: i32) -> std::io::Result<Self> {
        let service = match self.sink {
            Sink::Inline(service) => service,
            thread @ Sink::Thread(_) => {
                self.sink = thread;
                return Ok(self);
            }
        };
        let (ops, rx) = std::sync::mpsc::sync_channel(queue.max(1));
        let thread = std::thread::Builder::new()
            .name("peregrine-chain".into())
            .spawn(move || {
                if nice != 0 {
                    crate::sched::deprioritize_current_thread(
                        nice,
                        crate::sched::CHAIN_SERVICE_SLICE,
                    );
                }
                // From the sequencer signing a mini-block to it being readable here.
                let readable = metrics::histogram!("peregrine_replica_readable_lag_seconds");
                service.run(|service| {
                    while let Ok(op) = rx.recv() {
                        let (signed_us, sealing) = match &op {
                            ChainOp::Apply(signed) => (Some(signed.record.signed), None),
                            ChainOp::Seal { end, .. } => (None, Some(end.ctx.number)),
                            ChainOp::Flush(_) => (None, None),
                        };
                        if let Err(e) = op.run_on(service) {
                            let number = sealing.unwrap_or_default();
                            let e = ApplyError::Seal(e);
                            metrics::counter!("peregrine_replica_rejected_total", "reason" => e.reason())
                                .increment(1);
                            tracing::error!(block = number, reason = e.reason(), error = %e, "the block built here is not the one the sequencer sealed (or cannot be stored): stopping");
                            service.fail(format!("the seal of block {number}: {e}"));
                        }
                        if let Some(signed_us) = signed_us {
                            let lag_us = crate::clock::now_us().saturating_sub(signed_us);
                            readable.record(lag_us as f64 / 1e6);
                        }
                    }
                })
            })?;
        self.sink = Sink::Thread(ChainThread { ops, thread });
        Ok(self)
    }

    /// The chain it builds (what `rpc` serves from).
    pub fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    /// Where a fatal failure (a storage error while applying, on a chain thread a seal
    /// that differs) is recorded.
    pub fn fault(&self) -> crate::fault::Fault {
        self.fault.clone()
    }

    /// Waits until everything given so far is applied (at once without a chain thread).
    pub fn flush(&mut self) -> Result<(), ApplyError> {
        if let Sink::Thread(_) = self.sink {
            let (done, wait) = std::sync::mpsc::sync_channel(1);
            self.send(ChainOp::Flush(done))?;
            if wait.recv().is_err() {
                return Err(self.stopped());
            }
        }
        Ok(())
    }

    /// Hands `op` to the chain service.
    fn send(&mut self, op: ChainOp) -> Result<(), ApplyError> {
        match &mut self.sink {
            Sink::Inline(service) => Ok(op.run_on(service)?),
            Sink::Thread(t) => {
                if t.ops.send(op).is_err() {
                    return Err(self.stopped());
                }
                Ok(())
            }
        }
    }

    /// The error for a chain thread that has ended.
    fn stopped(&self) -> ApplyError {
        ApplyError::Stopped(
            self.fault
                .get()
                .cloned()
                .unwrap_or_else(|| "the chain thread ended".into()),
        )
    }

    /// Makes every sealed block durable (a clean stop: nothing is applied again). With a
    /// chain thread, waits for it to apply what it was given and end (a failure to
    /// make the last blocks durable is logged there; the write-ahead log is the stream).
    pub fn close(self) -> Result<(), crate::error::StoreError> {
        match self.sink {
            Sink::Inline(mut service) => {
                if service.unsynced > 0 {
                    service.checkpoint()?;
                }
            }
            Sink::Thread(ChainThread { ops, thread }) => {
                drop(ops);
                let _ = thread.join();
            }
        }
        Ok(())
    }

    /// Where its follower stands: the chain and key it accepts, the next mini-block.
    pub fn follower(&self) -> Follower {
        self.follower
    }

    /// The number of the block it is building: the next seal's (the chain's head, plus
    /// one, once the chain thread has sealed what it was given).
    pub fn open_block(&self) -> u64 {
        self.open
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
        if record.block_number() != self.open {
            return Err(ApplyError::WrongBlock {
                got: record.block_number(),
                open: self.open,
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
        if let Some(open_ctx) = self.open_ctx
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
        self.open_ctx = Some(ctx);
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
        self.chain.feed.publish(&signed);
        self.send(ChainOp::Apply(signed))
    }

    /// Seals the open block with the sequencer's signed `seal`: the seal is checked
    /// ([`Follower::accept_seal`]), the block is built (state root, roots, header), and
    /// its seal must equal the signed one field for field, or nothing is stored and
    /// [`ApplyError::Seal`] says why (with a chain thread, there, as the replica's fault).
    /// `ctx` is the block's context: that of its mini-blocks, or, for a block without
    /// any, the one the seal's hash covers.
    pub fn seal(&mut self, seal: SignedSeal, ctx: BlockContext) -> Result<(), ApplyError> {
        if seal.seal.blockNumber != self.open || ctx.number != self.open {
            return Err(ApplyError::WrongBlock {
                got: seal.seal.blockNumber,
                open: self.open,
            });
        }
        self.follower.accept_seal(&seal)?;
        let end = BlockEnd {
            ctx: self.open_ctx.unwrap_or(ctx),
            gas_used: self.block_gas,
        };
        self.send(ChainOp::Seal {
            end,
            seal: Box::new(seal),
        })?;
        self.open += 1;
        self.open_ctx = None;
        (self.block_gas, self.block_logs, self.block_txs) = (0, 0, 0);
        Ok(())
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

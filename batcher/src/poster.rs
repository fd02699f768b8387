//! The batcher thread: sealed L2 blocks → channels → signed L1 transactions → included,
//! safe, final.
//!
//! Each poll it (1) follows its L1 transactions (included, reorged out, final), (2) sets
//! the chain's `safe` and `finalized` heads from them, (3) broadcasts again what is not
//! included, replacing the oldest with higher fees when it is stuck, and (4) batches the
//! sealed blocks that are not yet in a channel, closing the channel when it is full or
//! its oldest block has waited `max-channel-duration`. It reads the chain through its
//! public seams only (the sealed-block stream and the store reader) and never touches the
//! sequencer loop: a slow or absent L1 delays `safe`, never a preconfirmation.

use crate::{
    commitment::BlockCommitment,
    config::{BLOB_DATA_BYTES, BatcherConfig, DaMode},
    error::{BatcherError, L1Error},
    format::{self, BatchBlock},
    inbox,
    l1::L1Client,
    metrics::BatcherMetrics,
    state::{BatcherState, DaKind, Inclusion, L1Tx, Signed},
};
use alloy_consensus::transaction::RlpEcdsaEncodableTx;
use alloy_consensus::{SignableTransaction, TxEip1559, TxEip4844, TxEip4844WithSidecar};
use alloy_eips::eip4844::builder::SimpleCoder;
use alloy_eips::{eip2718::Encodable2718, eip4844::builder::SidecarBuilder};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use peregrine_chain::{Chain, SealedBlock, store::StoreReader};
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Meta keys of [`BatcherState`].
const NEXT_BLOCK: &str = "next_block";
const NEXT_NONCE: &str = "next_nonce";
const FINALIZED: &str = "finalized_l2";

/// Posts reverted in a row after which the batcher stops posting.
const MAX_REVERTS_IN_ROW: u32 = 3;
/// Sealed blocks kept from the stream ahead of their turn (older ones are read from the
/// store when due).
const RECENT_BLOCKS: usize = 4096;
/// Gas per calldata byte the cost comparison assumes (EIP-7623's floor for non-zero
/// bytes: compressed data is nearly all non-zero).
const CALLDATA_GAS_PER_BYTE: u128 = 40;
/// Blob gas per blob.
const BLOB_GAS: u128 = 131_072;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The running batcher.
#[derive(Debug)]
pub struct BatcherHandle {
    thread: std::thread::JoinHandle<()>,
    stop: Arc<AtomicBool>,
}

impl BatcherHandle {
    /// Stops the batcher (what it signed is in its state; a restart goes on).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

/// Starts the batcher thread over `chain`.
pub fn spawn(cfg: BatcherConfig, chain: Arc<Chain>) -> Result<BatcherHandle, BatcherError> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut batcher = Batcher::open(cfg, chain)?;
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("peregrine-batcher".into())
        // Blobs are 128 KiB arrays, and decoding a sidecar moves several through the
        // stack (2 MiB by default: it overflowed in a debug build).
        .stack_size(32 << 20)
        .spawn(move || batcher.run(&flag))
        .map_err(|e| BatcherError::Config(format!("cannot start the batcher thread: {e}")))?;
    Ok(BatcherHandle { thread, stop })
}

/// A block waiting in the open channel.
struct Pending {
    block: BatchBlock,
    commitment: BlockCommitment,
}

/// The batcher's state in memory (its durable part mirrors [`BatcherState`]).
pub struct Batcher {
    cfg: BatcherConfig,
    chain: Arc<Chain>,
    l1: L1Client,
    state: BatcherState,
    signer: PrivateKeySigner,
    l1_chain_id: Option<u64>,
    /// Next L2 block to put in a channel.
    next_block: u64,
    /// Next L1 nonce to sign with.
    next_nonce: Option<u64>,
    /// L1 transactions signed and not final, by nonce.
    txs: BTreeMap<u64, L1Tx>,
    /// The open channel's blocks, and when its first one was taken.
    open: Vec<Pending>,
    open_since: Option<Instant>,
    open_bytes: usize,
    /// Mini-block header digests in the open channel.
    open_headers: usize,
    /// Compressed / raw of the last channel (the estimate for the open one).
    ratio: f64,
    /// Sealed blocks from the stream, until batched.
    sealed: tokio::sync::broadcast::Receiver<Arc<SealedBlock>>,
    recent: BTreeMap<u64, Arc<SealedBlock>>,
    /// Average encoded size of recent blocks (the backlog estimate).
    block_bytes: f64,
    finalized_l2: Option<u64>,
    /// Reverted posts since the last one that succeeded.
    reverts_in_row: u32,
    channel_salt: u64,
    metrics: BatcherMetrics,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("address", &self.signer.address())
            .field("next_block", &self.next_block)
            .field("next_nonce", &self.next_nonce)
            .field("pending", &self.txs.len())
            .finish_non_exhaustive()
    }
}

impl Batcher {
    /// Opens the batcher's state; contacts no one.
    pub fn open(cfg: BatcherConfig, chain: Arc<Chain>) -> Result<Self, BatcherError> {
        let signer = PrivateKeySigner::from_bytes(&cfg.key)
            .map_err(|e| BatcherError::Config(format!("invalid batcher key: {e}")))?;
        let state = BatcherState::open(&cfg.datadir)?;
        let txs = state.txs()?;
        let next_block = state.meta(NEXT_BLOCK)?.unwrap_or(0);
        let next_nonce = state.meta(NEXT_NONCE)?;
        let finalized_l2 = state.meta(FINALIZED)?;
        let sealed = chain.subscribe_sealed();
        // From now on `safe` and `finalized` are L1's: until the first poll, only what was
        // final before (never the head, as without a batcher).
        let known = finalized_l2.unwrap_or(0);
        chain.l1.set(known, known);
        let l1 = L1Client::new(&cfg.l1_rpc, cfg.request_timeout);
        tracing::info!(address = %signer.address(), inbox = %cfg.inbox, l1 = %cfg.l1_rpc, next_block, pending = txs.len(), "batcher opened");
        Ok(Self {
            l1,
            state,
            signer,
            l1_chain_id: None,
            next_block,
            next_nonce,
            txs,
            open: Vec::new(),
            open_since: None,
            open_bytes: 0,
            open_headers: 0,
            ratio: 0.5,
            sealed,
            recent: BTreeMap::new(),
            block_bytes: 300.0,
            finalized_l2,
            reverts_in_row: 0,
            channel_salt: now_ms(),
            metrics: BatcherMetrics::new(),
            cfg,
            chain,
        })
    }

    /// The batcher's L1 address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Polls until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) {
        let mut l1_down_since: Option<Instant> = None;
        while !stop.load(Ordering::Acquire) {
            match self.poll() {
                Ok(()) => {
                    if let Some(since) = l1_down_since.take() {
                        tracing::info!(down_for = ?since.elapsed(), "L1 reachable again");
                    }
                    self.metrics.l1_up.set(1.0);
                }
                Err(BatcherError::L1(e)) => {
                    self.metrics.l1_up.set(0.0);
                    if l1_down_since.is_none() {
                        tracing::warn!(error = %e, "L1 request failed; retrying each poll (the sequencer goes on)");
                        l1_down_since = Some(Instant::now());
                    }
                }
                Err(e) => {
                    self.metrics.errors.increment(1);
                    tracing::error!(error = %e, "batcher poll failed; retrying");
                }
            }
            let until = Instant::now() + self.cfg.poll_interval;
            while Instant::now() < until && !stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(25).min(until - Instant::now()));
            }
        }
    }

    /// One round.
    pub fn poll(&mut self) -> Result<(), BatcherError> {
        // First what needs no L1: the backlog, and the back-pressure it implies, are
        // measured even while L1 is down.
        self.take_sealed()?;
        self.report();
        if self.l1_chain_id.is_none() {
            let chain_id = self.l1.chain_id()?;
            // A post the inbox refuses would revert, and be paid for: check it first.
            let answer = self
                .l1
                .eth_call(self.cfg.inbox, &inbox::batcher_calldata())?;
            match inbox::decode_batcher(&answer) {
                Some(a) if a == self.address() => {}
                other => {
                    return Err(BatcherError::Config(format!(
                        "the inbox {} accepts posts from {}, not from this batcher key ({})",
                        self.cfg.inbox,
                        other.map_or("nobody (no PeregrineInbox there)".into(), |a| a.to_string()),
                        self.address()
                    )));
                }
            }
            self.l1_chain_id = Some(chain_id);
        }
        if self.next_nonce.is_none() {
            // First start: L1's count (later, our own record: a restart never asks L1
            // which nonce is next, so it can neither reuse nor skip one).
            self.next_nonce = Some(self.l1.nonce(self.address(), "pending")?);
        }
        self.follow_l1()?;
        self.resend()?;
        // Catching up (after an outage): as many channels as the pending limit allows.
        while self.post_if_due()? {
            self.take_sealed()?;
        }
        self.report();
        Ok(())
    }

    /// Updates inclusion of every pending transaction; sets `safe` and `finalized`.
    fn follow_l1(&mut self) -> Result<(), BatcherError> {
        let latest = self.l1.block_number()?;
        let finalized = self.l1.block("finalized", false)?.map_or(0, |b| b.number);
        let mut changed = Vec::new();
        for tx in self.txs.values_mut() {
            let mut found = None;
            // The included version first (is it still there?), then every other.
            let hashes: Vec<B256> = tx
                .included
                .iter()
                .map(|i| i.hash)
                .chain(tx.versions.iter().rev().map(|v| v.hash))
                .collect();
            for hash in hashes {
                if let Some(r) = self.l1.receipt(hash)? {
                    found = Some(Inclusion {
                        hash,
                        block: r.block_number,
                        block_hash: r.block_hash,
                        reverted: r.status != 1,
                    });
                    if tx.included.is_none() {
                        self.metrics.fees(tx.kind, &r);
                    }
                    break;
                }
            }
            if found != tx.included {
                match (&tx.included, &found) {
                    (Some(old), None) => {
                        tracing::warn!(
                            nonce = tx.nonce,
                            l1_block = old.block,
                            "an L1 reorg removed a batch transaction; broadcasting it again"
                        );
                        self.metrics.reorged.increment(1);
                        tx.sent_ms = 0;
                    }
                    (Some(old), Some(new)) => {
                        tracing::warn!(
                            nonce = tx.nonce,
                            old_l1_block = old.block,
                            l1_block = new.block,
                            "an L1 reorg moved a batch transaction to another block"
                        );
                        self.metrics.reorged.increment(1);
                    }
                    (None, Some(new)) if !new.reverted => {
                        self.reverts_in_row = 0;
                        tracing::debug!(
                            nonce = tx.nonce,
                            l1_block = new.block,
                            "batch transaction included"
                        )
                    }
                    _ => {}
                }
                tx.included = found;
                changed.push(tx.nonce);
            }
        }
        // Final: included at or below L1's finalized block. Forgotten from then on.
        // A post that reverted stored nothing: its channel is posted again, from its
        // first block, at new nonces (a later channel already sent is posted again too;
        // derivation takes each block once).
        let reverted: Vec<u64> = self
            .txs
            .values()
            .filter(|t| t.included.is_some_and(|i| i.reverted))
            .map(|t| t.nonce)
            .collect();
        for nonce in &reverted {
            let tx = self.txs.remove(nonce).expect("listed");
            self.metrics.reverted.increment(1);
            self.reverts_in_row += 1;
            tracing::error!(nonce, hash = %tx.included.map(|i| i.hash).unwrap_or_default(), first = tx.channel.0, last = tx.channel.1, "a batch transaction reverted on L1; posting its channel again");
            self.requeue(tx.channel.0);
        }
        // Final: included at or below L1's finalized block, and contiguous from the last
        // finalized L2 block. Forgotten from then on.
        let final_from = self.finalized_l2.map_or(0, |f| f + 1);
        let final_to = covered(
            final_from,
            self.txs
                .values()
                .filter(|t| t.included.is_some_and(|i| i.block <= finalized)),
        );
        if final_to > final_from {
            self.finalized_l2 = Some(final_to - 1);
        }
        let final_nonces: Vec<u64> = self
            .txs
            .values()
            .filter(|t| t.included.is_some_and(|i| i.block <= finalized) && t.channel.1 < final_to)
            .map(|t| t.nonce)
            .collect();
        for nonce in &final_nonces {
            self.txs.remove(nonce);
        }
        let updates: Vec<&L1Tx> = changed.iter().filter_map(|n| self.txs.get(n)).collect();
        let removed: Vec<u64> = final_nonces.iter().chain(&reverted).copied().collect();
        if !updates.is_empty() || !removed.is_empty() {
            let mut meta: Vec<(&str, u64)> = self
                .finalized_l2
                .map(|f| (FINALIZED, f))
                .into_iter()
                .collect();
            if !reverted.is_empty() {
                meta.push((NEXT_BLOCK, self.next_block));
            }
            self.state.write(&updates, &removed, &meta)?;
        }
        // Safe: the blocks from the finalized ones on covered, without a gap, by
        // transactions included at the confirmation depth.
        let safe_to = covered(
            final_to,
            self.txs.values().filter(|t| {
                t.included
                    .is_some_and(|i| latest.saturating_sub(i.block) >= self.cfg.confirmations)
            }),
        );
        let safe = safe_to.checked_sub(1).or(self.finalized_l2);
        let (safe, finalized_l2) = (safe.unwrap_or(0), self.finalized_l2.unwrap_or(0));
        self.chain.l1.set(safe, finalized_l2);
        self.metrics.safe.set(safe as f64);
        self.metrics.finalized.set(finalized_l2 as f64);
        self.metrics.l1_head.set(latest as f64);
        Ok(())
    }

    /// Takes blocks from `first` on into channels again (after a reverted post).
    fn requeue(&mut self, first: u64) {
        if first < self.next_block {
            self.next_block = first;
            self.open.clear();
            self.open_bytes = 0;
            self.open_headers = 0;
            self.open_since = None;
        }
    }

    /// Broadcasts again what is not included; replaces the lowest stuck nonce with higher
    /// fees (only it: the others cannot be included before it anyway).
    fn resend(&mut self) -> Result<(), BatcherError> {
        let now = now_ms();
        let resubmit = self.cfg.resubmit_after.as_millis() as u64;
        let bump_after = self.cfg.fee_bump_after.as_millis() as u64;
        let mut first_unincluded = true;
        let nonces: Vec<u64> = self.txs.keys().copied().collect();
        for nonce in nonces {
            let tx = &self.txs[&nonce];
            if tx.included.is_some() {
                continue;
            }
            let is_first = std::mem::replace(&mut first_unincluded, false);
            if is_first && tx.sent_ms != 0 && now.saturating_sub(tx.sent_ms) >= bump_after {
                self.bump(nonce)?;
                continue;
            }
            if tx.sent_ms == 0 || now.saturating_sub(tx.sent_ms) >= resubmit {
                self.broadcast(nonce)?;
            }
        }
        Ok(())
    }

    /// Sends the newest version of transaction `nonce` and notes when.
    fn broadcast(&mut self, nonce: u64) -> Result<(), BatcherError> {
        let tx = self.txs.get_mut(&nonce).expect("known nonce");
        match self.l1.send_raw(&tx.newest().raw) {
            Ok(()) => {}
            Err(L1Error::Rpc { message, .. }) => {
                // Nonce too low: a version is included (the next poll finds it), or the
                // key was used elsewhere. Underpriced: the bump comes. Either way, logged.
                tracing::warn!(nonce, error = %message, "L1 refused a batch transaction");
                self.metrics.refused.increment(1);
            }
            Err(e) => return Err(e.into()),
        }
        if tx.sent_ms == 0 {
            tracing::debug!(nonce, hash = %tx.newest().hash, kind = tx.kind.label(), "batch transaction sent");
        }
        tx.sent_ms = now_ms();
        let tx = tx.clone();
        self.state.write(&[&tx], &[], &[])?;
        Ok(())
    }

    /// Replaces transaction `nonce` with higher fees, within the budget.
    fn bump(&mut self, nonce: u64) -> Result<(), BatcherError> {
        let fees = self.fees()?;
        let tx = self.txs.get(&nonce).expect("known nonce").clone();
        let old = tx.newest();
        // geth's rules: +10% on both fee caps for ordinary transactions, +100% on all
        // three for blob transactions.
        let (num, den) = match tx.kind {
            DaKind::Calldata => (9u128, 8u128),
            DaKind::Blobs => (2, 1),
        };
        let bumped = |old: u128, now: u128| (old * num).div_ceil(den).max(now);
        let max_fee = bumped(old.max_fee, fees.max_fee);
        let tip = bumped(old.tip, fees.tip);
        let max_blob_fee = match tx.kind {
            DaKind::Blobs => bumped(old.max_blob_fee, fees.max_blob_fee),
            DaKind::Calldata => 0,
        };
        if tx.kind == DaKind::Blobs
            && max_blob_fee > self.cfg.max_fee_per_blob_gas
            && max_fee <= self.cfg.max_fee_per_gas
        {
            // Blob space is over the budget: the same data, at the same nonce, in calldata.
            return self.switch_to_calldata(nonce, max_fee, tip);
        }
        if max_fee > self.cfg.max_fee_per_gas || max_blob_fee > self.cfg.max_fee_per_blob_gas {
            self.metrics.over_budget.increment(1);
            tracing::warn!(
                nonce,
                max_fee,
                max_blob_fee,
                "a stuck batch transaction needs fees over the budget; waiting"
            );
            let tx = self.txs.get_mut(&nonce).expect("known");
            tx.sent_ms = now_ms();
            return Ok(());
        }
        let signed = self.resign(&tx, max_fee, tip, max_blob_fee)?;
        tracing::info!(nonce, old_hash = %old.hash, hash = %signed.hash, max_fee, tip, max_blob_fee, "replacing a stuck batch transaction with higher fees");
        self.metrics.bumps.increment(1);
        let tx = self.txs.get_mut(&nonce).expect("known");
        tx.versions.push(signed);
        tx.sent_ms = 0;
        let tx = tx.clone();
        self.state.write(&[&tx], &[], &[])?;
        self.broadcast(nonce)
    }

    /// Replaces the stuck blob transaction `nonce` by a calldata one carrying the same
    /// frames and commitments (a cancellation of the other type: the nonce must move).
    fn switch_to_calldata(
        &mut self,
        nonce: u64,
        max_fee: u128,
        tip: u128,
    ) -> Result<(), BatcherError> {
        use alloy_consensus::transaction::RlpEcdsaDecodableTx;
        let tx = self.txs.get(&nonce).expect("known nonce").clone();
        let raw = &tx.newest().raw;
        let signed =
            TxEip4844WithSidecar::<alloy_eips::eip4844::BlobTransactionSidecar>::rlp_decode_signed(
                &mut &raw[1..],
            )
            .map_err(|e| {
                BatcherError::Config(format!("own blob transaction does not decode: {e}"))
            })?;
        let inner = signed.strip_signature();
        let post = inbox::decode_post(&inner.tx.input)
            .ok_or_else(|| BatcherError::Config("own blob transaction is not a post".into()))?;
        let payload = crate::derive::decode_blobs(
            B256::ZERO,
            &inner
                .sidecar
                .blobs
                .iter()
                .map(|b| Bytes::copy_from_slice(b.as_slice()))
                .collect::<Vec<_>>(),
        )
        .map_err(|e| BatcherError::Config(format!("own blobs do not decode: {e}")))?;
        let input = inbox::post_calldata(&post.commitments, payload);
        let gas = self
            .l1
            .estimate_gas(self.address(), self.cfg.inbox, &input)?;
        let chain_id = self.l1_chain_id.expect("known before posting");
        let signed = self.sign_1559(TxEip1559 {
            chain_id,
            nonce,
            gas_limit: gas + gas / 5,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(self.cfg.inbox),
            value: U256::ZERO,
            access_list: Default::default(),
            input,
        })?;
        tracing::warn!(nonce, old_hash = %tx.newest().hash, hash = %signed.hash, "blob gas is over the budget: the stuck blob transaction is replaced by the same data in calldata");
        self.metrics.da_switches.increment(1);
        let tx = self.txs.get_mut(&nonce).expect("known");
        tx.kind = DaKind::Calldata;
        tx.versions.push(signed);
        tx.sent_ms = 0;
        let tx = tx.clone();
        self.state.write(&[&tx], &[], &[])?;
        self.broadcast(nonce)
    }

    /// Signs `tx`'s payload again with new fees (same nonce, same data).
    fn resign(
        &self,
        tx: &L1Tx,
        max_fee: u128,
        tip: u128,
        max_blob_fee: u128,
    ) -> Result<Signed, BatcherError> {
        use alloy_eips::eip2718::Decodable2718;
        let raw = &tx.newest().raw;
        match tx.kind {
            DaKind::Calldata => {
                let env =
                    alloy_consensus::TxEnvelope::decode_2718(&mut raw.as_ref()).map_err(|e| {
                        BatcherError::Config(format!("own transaction does not decode: {e}"))
                    })?;
                let alloy_consensus::TxEnvelope::Eip1559(signed) = env else {
                    return Err(BatcherError::Config(
                        "own calldata transaction is not EIP-1559".into(),
                    ));
                };
                let mut inner = signed.strip_signature();
                inner.max_fee_per_gas = max_fee;
                inner.max_priority_fee_per_gas = tip;
                self.sign_1559(inner)
            }
            DaKind::Blobs => {
                use alloy_consensus::transaction::RlpEcdsaDecodableTx;
                let mut buf = &raw[1..];
                let signed = TxEip4844WithSidecar::<alloy_eips::eip4844::BlobTransactionSidecar>::rlp_decode_signed(&mut buf)
                    .map_err(|e| BatcherError::Config(format!("own blob transaction does not decode: {e}")))?;
                let mut inner = signed.strip_signature();
                inner.tx.max_fee_per_gas = max_fee;
                inner.tx.max_priority_fee_per_gas = tip;
                inner.tx.max_fee_per_blob_gas = max_blob_fee;
                self.sign_4844(inner)
            }
        }
    }

    /// Moves sealed blocks past `next_block` into the open channel.
    fn take_sealed(&mut self) -> Result<(), BatcherError> {
        loop {
            match self.sealed.try_recv() {
                Ok(b) => {
                    if b.block.header.number >= self.next_block {
                        self.recent.insert(b.block.header.number, b);
                    }
                }
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "sealed-block stream lagged; reading the store");
                }
                Err(_) => break,
            }
        }
        // Bounded: the newest go first (the store has them when their turn comes).
        while self.recent.len() > RECENT_BLOCKS {
            self.recent.pop_last();
        }
        let head = self.chain.head().header.number;
        let mut reader: Option<StoreReader> = None;
        let target = self.channel_target();
        while self.next_block <= head
            && ((self.open_bytes as f64 * self.ratio) as usize) < target
            && self.open_headers * 32 < self.header_budget()
        {
            let n = self.next_block;
            let pending = match self.recent.remove(&n) {
                Some(sealed) => Pending {
                    block: batch_block(&sealed.block),
                    commitment: BlockCommitment::new(
                        n,
                        sealed.seal.seal.nextMiniBlock - sealed.mini_blocks.len() as u64,
                        sealed.mini_blocks.clone(),
                    ),
                },
                None => {
                    let reader = match &mut reader {
                        Some(r) => r,
                        None => reader.insert(self.chain.reader()?),
                    };
                    let Some(block) = reader.block(n)? else { break };
                    let (first, headers) = mini_block_hashes(reader, n)?;
                    Pending {
                        block: batch_block(&block),
                        commitment: BlockCommitment::new(n, first, headers),
                    }
                }
            };
            #[cfg(feature = "test-faults")]
            let pending = {
                let mut pending = pending;
                test_fault(&mut pending.commitment);
                pending
            };
            let len = pending.block.encoded_len();
            self.open_bytes += len;
            self.open_headers += pending.commitment.headers.len();
            self.block_bytes = self.block_bytes * 0.9 + len as f64 * 0.1;
            self.open_since.get_or_insert_with(Instant::now);
            self.open.push(pending);
            self.next_block += 1;
        }
        self.recent.retain(|&n, _| n >= self.next_block);
        Ok(())
    }

    /// Compressed bytes at which the open channel is full: one transaction's capacity.
    fn channel_target(&self) -> usize {
        match self.cfg.da {
            DaMode::Calldata => self.capacity(DaKind::Calldata),
            DaMode::Blobs | DaMode::Auto => self.capacity(DaKind::Blobs),
        }
    }

    /// Sealed data not yet in a signed L1 transaction: the open channel, and the blocks
    /// not taken yet (estimated from the recent average block size).
    fn backlog_bytes(&self) -> u64 {
        let head = self.chain.head().header.number;
        let untaken = head.saturating_add(1).saturating_sub(self.next_block);
        self.open_bytes as u64 + (untaken as f64 * self.block_bytes) as u64
    }

    /// L1 transactions signed and not included yet (what `max_pending_txs` bounds; the
    /// included ones stay tracked until finalized, for reorgs).
    fn not_included(&self) -> usize {
        self.txs.values().filter(|t| t.included.is_none()).count()
    }

    /// Header-digest bytes one channel carries at most (32 a mini-block, in the calldata
    /// of its last transaction): half the calldata budget, so that a frame still fits.
    fn header_budget(&self) -> usize {
        self.cfg.max_calldata_bytes / 2
    }

    /// How many frame bytes one transaction of `kind` carries.
    fn capacity(&self, kind: DaKind) -> usize {
        match kind {
            DaKind::Calldata => self.cfg.max_calldata_bytes,
            DaKind::Blobs => BLOB_DATA_BYTES * self.cfg.max_blobs_per_tx,
        }
    }

    /// Closes and posts the open channel when it is full or old enough; whether it did.
    fn post_if_due(&mut self) -> Result<bool, BatcherError> {
        if self.open.is_empty() || self.not_included() >= self.cfg.max_pending_txs {
            return Ok(false);
        }
        if self.reverts_in_row >= MAX_REVERTS_IN_ROW {
            // Something refuses every post (not a passing condition): stop paying for
            // reverts; the backlog grows, and back-pressure and the log say so.
            return Err(BatcherError::Config(format!(
                "{} batch transactions in a row reverted on L1; posting stopped (see the log for their hashes), restart after fixing the cause",
                self.reverts_in_row
            )));
        }
        let estimate = (self.open_bytes as f64 * self.ratio) as usize;
        let old = self
            .open_since
            .is_some_and(|t| t.elapsed() >= self.cfg.max_channel_duration);
        let headers_full = self.open_headers * 32 >= self.header_budget();
        if estimate < self.channel_target() && !old && !headers_full {
            return Ok(false);
        }
        self.post_channel()?;
        Ok(true)
    }

    /// Compresses the open channel into frames, signs its transactions, stores them, then
    /// broadcasts them.
    fn post_channel(&mut self) -> Result<(), BatcherError> {
        // Nothing changes here until every transaction is signed and stored: an L1
        // failure on the way (fees, gas estimate) leaves the open channel as it was.
        let fees = self.fees()?;
        let blocks = &self.open;
        let mut raw = Vec::with_capacity(self.open_bytes);
        for p in blocks {
            p.block.encode(&mut raw);
        }
        let channel = self.cfg.codec.compress(&raw);
        let first = blocks[0].block.number;
        let last = blocks[blocks.len() - 1].block.number;
        let l2_txs: u64 = blocks.iter().map(|p| p.block.txs.len() as u64).sum();
        let kind = match self.cfg.da {
            DaMode::Calldata => DaKind::Calldata,
            DaMode::Blobs => DaKind::Blobs,
            DaMode::Auto if fees.blob_base > self.cfg.max_fee_per_blob_gas => DaKind::Calldata,
            DaMode::Auto => fees.cheaper(channel.len(), self.cfg.max_blobs_per_tx),
        };
        // The header digests ride in the last transaction's calldata, beside its frame.
        let per_tx = match kind {
            DaKind::Calldata => self.capacity(kind).saturating_sub(self.open_headers * 32),
            DaKind::Blobs => self.capacity(kind),
        }
        .max(self.cfg.max_calldata_bytes / 2)
            - format::FRAME_OVERHEAD
            - 1;
        let id = format::channel_id(first, last, self.channel_salt);
        let frames = format::split(id, &channel, per_tx);
        let commitments: Vec<BlockCommitment> =
            blocks.iter().map(|p| p.commitment.clone()).collect();
        let mut nonce = self.next_nonce.expect("known before posting");
        let mut signed_txs = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let is_last = i + 1 == frames.len();
            let payload = format::payload(std::slice::from_ref(frame));
            let these: &[BlockCommitment] = if is_last { &commitments } else { &[] };
            let signed = self.build(kind, these, payload.clone(), &fees, nonce)?;
            signed_txs.push(L1Tx {
                nonce,
                kind,
                completes: is_last.then_some((first, last)),
                channel: (first, last),
                data_bytes: payload.len() as u64,
                l2_txs: if is_last { l2_txs } else { 0 },
                versions: vec![signed],
                included: None,
                sent_ms: 0,
            });
            nonce += 1;
        }
        // Durable before the first broadcast: a restart sends exactly these again.
        let refs: Vec<&L1Tx> = signed_txs.iter().collect();
        self.state
            .write(&refs, &[], &[(NEXT_BLOCK, last + 1), (NEXT_NONCE, nonce)])?;
        self.open.clear();
        self.open_bytes = 0;
        self.open_headers = 0;
        self.open_since = None;
        self.channel_salt += 1;
        self.ratio = (channel.len() as f64 / raw.len().max(1) as f64).clamp(0.01, 1.5);
        self.next_nonce = Some(nonce);
        let commitment_bytes = commitments.iter().map(|c| 32 * c.headers.len()).sum();
        self.metrics.channel(
            kind,
            raw.len(),
            channel.len(),
            commitment_bytes,
            l2_txs,
            frames.len(),
        );
        tracing::info!(
            first,
            last,
            l2_txs,
            raw = raw.len(),
            compressed = channel.len(),
            kind = kind.label(),
            l1_txs = frames.len(),
            "channel posted"
        );
        let nonces: Vec<u64> = signed_txs.iter().map(|t| t.nonce).collect();
        for tx in signed_txs {
            self.txs.insert(tx.nonce, tx);
        }
        // Stored: a failed broadcast is retried by `resend` (and after a restart).
        for n in nonces {
            match self.broadcast(n) {
                Ok(()) => {}
                // L1 unreachable: this poll fails as any L1 request does (`l1_up` 0).
                Err(e @ BatcherError::L1(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(nonce = n, error = %e, "cannot broadcast a batch transaction yet; retrying");
                    break;
                }
            }
        }
        Ok(())
    }

    /// Builds and signs one L1 transaction carrying `payload` and `commitments`.
    fn build(
        &self,
        kind: DaKind,
        commitments: &[BlockCommitment],
        payload: Vec<u8>,
        fees: &Fees,
        nonce: u64,
    ) -> Result<Signed, BatcherError> {
        let chain_id = self.l1_chain_id.expect("known before posting");
        match kind {
            DaKind::Calldata => {
                let input = inbox::post_calldata(commitments, payload);
                let gas = self
                    .l1
                    .estimate_gas(self.address(), self.cfg.inbox, &input)?;
                self.sign_1559(TxEip1559 {
                    chain_id,
                    nonce,
                    gas_limit: gas + gas / 5,
                    max_fee_per_gas: fees.max_fee,
                    max_priority_fee_per_gas: fees.tip,
                    to: TxKind::Call(self.cfg.inbox),
                    value: U256::ZERO,
                    access_list: Default::default(),
                    input,
                })
            }
            DaKind::Blobs => {
                let input = inbox::post_calldata(commitments, Vec::new());
                let gas = self
                    .l1
                    .estimate_gas(self.address(), self.cfg.inbox, &input)?;
                let sidecar = SidecarBuilder::<SimpleCoder>::from_slice(&payload)
                    .build_4844()
                    .map_err(|e| BatcherError::Kzg(e.to_string()))?;
                let tx = TxEip4844 {
                    chain_id,
                    nonce,
                    gas_limit: gas + gas / 5,
                    max_fee_per_gas: fees.max_fee,
                    max_priority_fee_per_gas: fees.tip,
                    to: self.cfg.inbox,
                    value: U256::ZERO,
                    access_list: Default::default(),
                    blob_versioned_hashes: sidecar.versioned_hashes().collect(),
                    max_fee_per_blob_gas: fees.max_blob_fee,
                    input,
                };
                self.sign_4844(TxEip4844WithSidecar::from_tx_and_sidecar(tx, sidecar))
            }
        }
    }

    fn sign_1559(&self, tx: TxEip1559) -> Result<Signed, BatcherError> {
        let sig = self
            .signer
            .sign_hash_sync(&tx.signature_hash())
            .map_err(|e| BatcherError::Config(format!("cannot sign: {e}")))?;
        let (max_fee, tip) = (tx.max_fee_per_gas, tx.max_priority_fee_per_gas);
        let env = alloy_consensus::TxEnvelope::Eip1559(tx.into_signed(sig));
        Ok(Signed {
            hash: *env.tx_hash(),
            raw: env.encoded_2718().into(),
            max_fee,
            tip,
            max_blob_fee: 0,
        })
    }

    fn sign_4844(
        &self,
        tx: TxEip4844WithSidecar<alloy_eips::eip4844::BlobTransactionSidecar>,
    ) -> Result<Signed, BatcherError> {
        let sig = self
            .signer
            .sign_hash_sync(&tx.signature_hash())
            .map_err(|e| BatcherError::Config(format!("cannot sign: {e}")))?;
        let mut raw = Vec::new();
        tx.eip2718_encode(&sig, &mut raw);
        Ok(Signed {
            hash: tx.tx.tx_hash(&sig),
            raw: raw.into(),
            max_fee: tx.tx.max_fee_per_gas,
            tip: tx.tx.max_priority_fee_per_gas,
            max_blob_fee: tx.tx.max_fee_per_blob_gas,
        })
    }

    /// Fees for a transaction signed now.
    fn fees(&self) -> Result<Fees, BatcherError> {
        let base = self
            .l1
            .block("latest", false)?
            .and_then(|b| b.base_fee_per_gas)
            .unwrap_or(1_000_000_000) as u128;
        let tip = (self.l1.max_priority_fee()? as u128).max(1);
        let blob_base = self.l1.blob_base_fee()? as u128;
        Ok(Fees {
            base,
            blob_base,
            tip,
            max_fee: (2 * base + tip).min(self.cfg.max_fee_per_gas),
            max_blob_fee: (2 * blob_base).max(1).min(self.cfg.max_fee_per_blob_gas),
        })
    }

    fn report(&self) {
        let unbatched = self
            .chain
            .head()
            .header
            .number
            .saturating_add(1)
            .saturating_sub(self.next_block);
        let backlog = self.backlog_bytes();
        self.chain
            .l1
            .set_backlog(backlog, self.cfg.max_backlog_bytes);
        self.metrics.pending_txs.set(self.not_included() as f64);
        self.metrics
            .backlog_blocks
            .set(unbatched as f64 + self.open.len() as f64);
        self.metrics.backlog_bytes.set(backlog as f64);
        self.metrics
            .posted
            .set(self.next_block.saturating_sub(1) as f64);
    }
}

/// The next L2 block after `from` not covered, without a gap, by the blocks `txs`
/// complete (`from` when none continues it).
fn covered<'a>(from: u64, txs: impl Iterator<Item = &'a L1Tx>) -> u64 {
    let mut ranges: Vec<(u64, u64)> = txs.filter_map(|t| t.completes).collect();
    ranges.sort_unstable();
    let mut next = from;
    for (first, last) in ranges {
        if first > next {
            break;
        }
        next = next.max(last + 1);
    }
    next
}

/// Fees read from L1.
#[derive(Debug, Clone, Copy)]
struct Fees {
    base: u128,
    blob_base: u128,
    tip: u128,
    max_fee: u128,
    max_blob_fee: u128,
}

impl Fees {
    /// Which carries `bytes` for less now.
    fn cheaper(&self, bytes: usize, max_blobs: usize) -> DaKind {
        let bytes = bytes as u128;
        let calldata = CALLDATA_GAS_PER_BYTE * bytes * (self.base + self.tip);
        let blobs = bytes
            .div_ceil(BLOB_DATA_BYTES as u128)
            .clamp(1, max_blobs as u128);
        let blob = blobs * BLOB_GAS * self.blob_base.max(1);
        if blob < calldata {
            DaKind::Blobs
        } else {
            DaKind::Calldata
        }
    }
}

/// A stored block as posted.
fn batch_block(b: &peregrine_chain::store::StoredBlock) -> BatchBlock {
    let h = &b.header;
    BatchBlock {
        number: h.number,
        timestamp: h.timestamp,
        base_fee: h.base_fee_per_gas.unwrap_or_default(),
        gas_limit: h.gas_limit,
        beneficiary: h.beneficiary,
        prev_randao: h.mix_hash,
        txs: b
            .txs
            .iter()
            .map(|t| Bytes::from(t.encoded_2718()))
            .collect(),
    }
}

/// The EIP-712 digests of block `n`'s mini-block headers, from the store.
/// With `PEREGRINE_TEST_FAULT=mismatch`, the first block with a mini-block is committed
/// with its first header's digest replaced; with `omit`, the first block with two or more
/// without its last. Once per process. Test builds only (feature `test-faults`).
#[cfg(feature = "test-faults")]
fn test_fault(c: &mut BlockCommitment) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static DONE: AtomicBool = AtomicBool::new(false);
    let fault = std::env::var("PEREGRINE_TEST_FAULT").unwrap_or_default();
    let applies = match fault.as_str() {
        "mismatch" => !c.headers.is_empty(),
        "omit" => c.headers.len() >= 2,
        _ => false,
    };
    if !applies || DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    if fault == "mismatch" {
        c.headers[0] = alloy_primitives::keccak256(c.headers[0]);
    } else {
        c.headers.pop();
    }
    tracing::warn!(
        block = c.number,
        fault,
        "test fault injected into a commitment"
    );
}

fn mini_block_hashes(reader: &StoreReader, n: u64) -> Result<(u64, Vec<B256>), BatcherError> {
    if n == 0 {
        return Ok((0, Vec::new()));
    }
    let from = match reader.seal(n - 1)? {
        Some(s) => s.seal.nextMiniBlock,
        None => 0,
    };
    let to = match reader.seal(n)? {
        Some(s) => s.seal.nextMiniBlock,
        None => return Ok((from, Vec::new())),
    };
    let mut out = Vec::with_capacity((to - from) as usize);
    for m in from..to {
        match reader.mini_block(m)? {
            Some(r) => out.push(r.hash),
            None => break,
        }
    }
    Ok((from, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(nonce: u64, completes: Option<(u64, u64)>) -> L1Tx {
        L1Tx {
            nonce,
            kind: DaKind::Calldata,
            completes,
            channel: completes.unwrap_or_default(),
            data_bytes: 0,
            l2_txs: 0,
            versions: vec![],
            included: None,
            sent_ms: 0,
        }
    }

    #[test]
    fn coverage_stops_at_a_gap_and_ignores_order() {
        let txs = [
            tx(3, Some((5, 9))),
            tx(1, Some((0, 4))),
            tx(2, None),
            tx(4, Some((12, 20))),
        ];
        assert_eq!(covered(0, txs.iter()), 10);
        // A re-posted channel (higher nonce) fills the gap left by a reverted one.
        let txs = [
            tx(1, Some((0, 4))),
            tx(3, Some((10, 14))),
            tx(4, Some((5, 9))),
        ];
        assert_eq!(covered(0, txs.iter()), 15);
        assert_eq!(covered(5, [tx(1, Some((0, 4)))].iter()), 5);
        assert_eq!(covered(0, [].iter()), 0);
    }

    #[test]
    fn auto_prefers_blobs_when_blob_gas_is_cheap_and_calldata_when_not() {
        let mut f = Fees {
            base: 10,
            blob_base: 1,
            tip: 1,
            max_fee: 0,
            max_blob_fee: 0,
        };
        assert_eq!(f.cheaper(100_000, 6), DaKind::Blobs);
        // A 16x blob fee spike on a tiny channel: calldata is cheaper.
        f.blob_base = 1_000;
        assert_eq!(f.cheaper(1_000, 6), DaKind::Calldata);
    }
}

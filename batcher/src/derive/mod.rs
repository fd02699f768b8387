//! Derivation: the L2 chain rebuilt from L1 alone.
//!
//! The inbox's successful `post` calls from the batcher address, in L1 order, give frames
//! (from calldata, or from blobs through a [`BlobSource`]); frames give channels; channels
//! give blocks; every transaction of every block is executed again with revm over the
//! genesis state, and each block's header is rebuilt: state root, transactions and
//! receipts roots, bloom, gas used. Nothing of the sequencer's is reused but the execution
//! rules (the same revm and configuration): not its state diffs, not its receipts.
//!
//! A block posted twice (a re-post after an L1 reorg, or a resubmission that landed twice)
//! is taken once; a gap is an error.
//!
//! A [`Deriver`] derives in memory from the L1 blocks it is given; a [`follow::Follower`]
//! drives one over the L1 chain as it grows and reorganises, and keeps what it derived in
//! a [`store::DeriveStore`] so that a restart resumes where it stopped.

pub mod follow;
pub mod store;

use crate::{
    error::{L1Error, StateError},
    format::{self, Assembler, BatchBlock},
    inbox,
    l1::{L1Block, L1Client, L1Tx},
};
use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::{
    eip2718::Decodable2718,
    eip4844::{
        Blob,
        builder::{SidecarCoder, SimpleCoder},
    },
};
use alloy_primitives::{Address, B256, Bytes};
use peregrine_chain::{
    BlockContext, GenesisSpec, WorldState,
    diff::DiffLog,
    exec::{self, SequencerDb},
    hashes::BlockHashes,
    view::{ViewParts, block_header},
};
use revm::{Context, ExecuteEvm, MainBuilder, MainContext};
use std::sync::Arc;

/// Why derivation stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    /// The L1 node.
    #[error(transparent)]
    L1(#[from] L1Error),
    /// A batch that does not decode.
    #[error("L1 transaction {tx}: {error}")]
    Format {
        /// The L1 transaction.
        tx: B256,
        /// What was wrong.
        error: crate::error::FormatError,
    },
    /// A block that does not follow.
    #[error("L2 block {got} posted where block {expected} was due (a gap)")]
    Gap {
        /// Expected number.
        expected: u64,
        /// Number found.
        got: u64,
    },
    /// A transaction that does not execute.
    #[error("L2 block {block}, transaction {index}: {why}")]
    Invalid {
        /// Block.
        block: u64,
        /// Its index.
        index: usize,
        /// Why.
        why: String,
    },
    /// The caller's `each` asked to stop (e.g. at a mismatch it recorded).
    #[error("stopped by the caller")]
    Halted,
    /// Blobs that cannot be fetched.
    #[error("blobs of L1 transaction {tx}: {why}")]
    Blobs {
        /// The L1 transaction.
        tx: B256,
        /// Why.
        why: String,
    },
    /// The derivation's own database.
    #[error("derivation database: {0}")]
    Store(#[from] StateError),
    /// An L1 reorg that replaced every L1 block still remembered.
    #[error(
        "an L1 reorg deeper than the {kept} L1 blocks remembered (from block {oldest}): derive again from an empty datadir"
    )]
    DeepReorg {
        /// L1 blocks remembered.
        kept: u64,
        /// The oldest of them.
        oldest: u64,
    },
    /// A block re-executed from the datadir that no longer gives the hash stored for it.
    #[error(
        "L2 block {block} re-executed from the datadir gives hash {now}, not the {stored} stored"
    )]
    Replay {
        /// The block.
        block: u64,
        /// Its hash now.
        now: B256,
        /// Its hash stored.
        stored: B256,
    },
}

/// Where blob contents come from.
pub trait BlobSource {
    /// The blobs of blob transaction `tx` (included in L1 block `l1_block`), in order.
    fn blobs(&self, tx: &L1Tx, l1_block: u64) -> Result<Vec<Bytes>, DeriveError>;
}

/// anvil's `anvil_getBlobsByTransactionHash`: for dev and tests. (A production L1:
/// [`crate::beacon::BeaconBlobs`].)
#[derive(Debug)]
pub struct AnvilBlobs<'a>(pub &'a L1Client);

impl BlobSource for AnvilBlobs<'_> {
    fn blobs(&self, tx: &L1Tx, _l1_block: u64) -> Result<Vec<Bytes>, DeriveError> {
        let blobs = self.0.anvil_blobs(tx.hash)?;
        let want = tx.blob_versioned_hashes.as_ref().map_or(0, Vec::len);
        if blobs.len() != want {
            return Err(DeriveError::Blobs {
                tx: tx.hash,
                why: format!("{} blobs for {want} versioned hashes", blobs.len()),
            });
        }
        Ok(blobs)
    }
}

/// Decodes blob contents written with alloy's `SimpleCoder`.
pub fn decode_blobs(tx: B256, blobs: &[Bytes]) -> Result<Vec<u8>, DeriveError> {
    let blobs: Vec<Blob> = blobs
        .iter()
        .map(|b| {
            Blob::try_from(b.as_ref()).map_err(|_| DeriveError::Blobs {
                tx,
                why: format!("a blob of {} bytes", b.len()),
            })
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for piece in SimpleCoder::default()
        .decode_all(&blobs)
        .unwrap_or_default()
    {
        out.extend_from_slice(&piece);
    }
    Ok(out)
}

/// One derived block.
#[derive(Debug, Clone)]
pub struct Derived {
    /// Its header, rebuilt.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// Transactions in it.
    pub txs: usize,
    /// The L1 block that completed its channel.
    pub l1_block: u64,
    /// Its data, as posted.
    pub block: BatchBlock,
}

/// The derivation's state: the chain rebuilt so far.
pub struct Deriver {
    chain_id: u64,
    genesis: GenesisSpec,
    inbox: Address,
    batcher: Address,
    state: Option<WorldState>,
    hashes: Arc<BlockHashes>,
    parent: B256,
    next: u64,
    assembler: Assembler,
    reposted: u64,
}

impl std::fmt::Debug for Deriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deriver")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Deriver {
    /// A derivation from `genesis`, reading `inbox` posts from `batcher`.
    pub fn new(chain_id: u64, genesis: GenesisSpec, inbox: Address, batcher: Address) -> Self {
        Self {
            chain_id,
            state: Some(genesis.state()),
            genesis,
            inbox,
            batcher,
            hashes: Arc::new(BlockHashes::default()),
            parent: B256::ZERO,
            next: 0,
            assembler: Assembler::default(),
            reposted: 0,
        }
    }

    /// Blocks found posted again after they were derived (taken once, counted here).
    pub fn reposted(&self) -> u64 {
        self.reposted
    }

    /// The next L2 block it expects.
    pub fn next_block(&self) -> u64 {
        self.next
    }

    /// The last block derived: number and hash.
    pub fn head(&self) -> Option<(u64, B256)> {
        self.next.checked_sub(1).map(|n| (n, self.parent))
    }

    /// Derives from L1 blocks `from..=to`, calling `each` for every block derived.
    pub fn scan(
        &mut self,
        l1: &L1Client,
        blobs: &dyn BlobSource,
        from: u64,
        to: u64,
        each: &mut dyn FnMut(&Derived) -> Result<(), DeriveError>,
    ) -> Result<(), DeriveError> {
        for n in from..=to {
            let Some(block) = l1.block_at(n, true)? else {
                break;
            };
            for d in self.scan_block(l1, blobs, &block)? {
                each(&d)?;
            }
        }
        Ok(())
    }

    /// The frames of unfinished channels ([`Assembler::snapshot`]).
    pub fn assembler_snapshot(&self) -> Vec<u8> {
        self.assembler.snapshot()
    }

    /// Puts back the unfinished channels of a snapshot.
    pub fn restore_assembler(&mut self, snapshot: &[u8]) -> Result<(), crate::error::FormatError> {
        self.assembler = Assembler::restore(snapshot)?;
        Ok(())
    }

    /// Derives from one L1 block (read with its transactions): the blocks it completes.
    ///
    /// Everything is read from L1 first: an L1 failure leaves the derivation as it was.
    pub fn scan_block(
        &mut self,
        l1: &L1Client,
        blobs: &dyn BlobSource,
        block: &L1Block,
    ) -> Result<Vec<Derived>, DeriveError> {
        let posts = self.posts(l1, blobs, block)?;
        let mut out = Vec::new();
        for (tx, payload) in posts {
            let frames = format::parse_payload(&payload)
                .map_err(|error| DeriveError::Format { tx, error })?;
            for frame in frames {
                let done = self
                    .assembler
                    .push(frame)
                    .map_err(|error| DeriveError::Format { tx, error })?;
                for b in done.into_iter().flatten() {
                    if b.number < self.next {
                        self.reposted += 1;
                        continue;
                    }
                    if b.number > self.next {
                        return Err(DeriveError::Gap {
                            expected: self.next,
                            got: b.number,
                        });
                    }
                    out.push(self.execute(b, block.number)?);
                }
            }
        }
        Ok(out)
    }

    /// The payloads of the batcher's successful posts in `block`, in order.
    fn posts(
        &self,
        l1: &L1Client,
        blobs: &dyn BlobSource,
        block: &L1Block,
    ) -> Result<Vec<(B256, Vec<u8>)>, DeriveError> {
        use serde::Deserialize as _;
        let n = block.number;
        let mut out = Vec::new();
        for tx in &block.transactions {
            let tx = match L1Tx::deserialize(tx) {
                Ok(tx) => tx,
                Err(e) => {
                    tracing::debug!(l1_block = n, error = %e, "an L1 transaction that does not parse: skipped");
                    continue;
                }
            };
            if tx.to != Some(self.inbox) || tx.from != self.batcher {
                continue;
            }
            let Some(post) = inbox::decode_post(&tx.input) else {
                tracing::warn!(l1_block = n, tx = %tx.hash, "an inbox transaction from the batcher that is not a post: ignored");
                continue;
            };
            // A reverted post stored nothing: its data does not count either.
            match l1.receipt(tx.hash)? {
                Some(r) if r.status == 1 => {}
                r => {
                    tracing::warn!(l1_block = n, tx = %tx.hash, gas_used = r.map_or(0, |r| r.gas_used), "a reverted post: ignored");
                    continue;
                }
            }
            let payload = if tx
                .blob_versioned_hashes
                .as_ref()
                .is_some_and(|h| !h.is_empty())
            {
                decode_blobs(tx.hash, &blobs.blobs(&tx, n)?)?
            } else {
                post.frames.to_vec()
            };
            out.push((tx.hash, payload));
        }
        Ok(out)
    }

    /// Executes one block on the derived state and builds its header.
    pub fn execute(&mut self, b: BatchBlock, l1_block: u64) -> Result<Derived, DeriveError> {
        let ctx = BlockContext {
            number: b.number,
            timestamp: b.timestamp,
            base_fee: b.base_fee,
            gas_limit: b.gas_limit,
            beneficiary: b.beneficiary,
            prevrandao: b.prev_randao,
        };
        let mut state = self
            .state
            .take()
            .expect("state is put back after each block");
        let (parts, extra) = if b.number == 0 {
            (ViewParts::default(), self.genesis.extra_data.clone())
        } else {
            let (back, parts) = self.run_block(state, &ctx, &b);
            state = back;
            match parts {
                Ok(parts) => (parts, Bytes::new()),
                Err(e) => {
                    self.state = Some(state);
                    return Err(e);
                }
            }
        };
        let state_root = state.state_root();
        self.state = Some(state);
        let header = block_header(self.parent, &ctx, &parts, state_root, extra);
        let hash = header.hash_slow();
        self.hashes.insert(b.number, hash);
        self.parent = hash;
        self.next = b.number + 1;
        Ok(Derived {
            header,
            hash,
            txs: b.txs.len(),
            l1_block,
            block: b,
        })
    }

    /// Executes `b`'s transactions on `state` (given back, changed, whatever happens).
    fn run_block(
        &self,
        state: WorldState,
        ctx: &BlockContext,
        b: &BatchBlock,
    ) -> (WorldState, Result<ViewParts, DeriveError>) {
        let db = SequencerDb {
            state,
            hashes: self.hashes.clone(),
        };
        let mut evm = Context::mainnet()
            .with_db(db)
            .with_cfg(exec::cfg_env(self.chain_id))
            .with_block(exec::block_env(ctx))
            .build_mainnet();
        let mut envelopes = Vec::with_capacity(b.txs.len());
        let mut receipts: Vec<ReceiptEnvelope> = Vec::with_capacity(b.txs.len());
        let mut diff = DiffLog::default();
        let mut cumulative = 0u64;
        let mut failed = None;
        for (index, raw) in b.txs.iter().enumerate() {
            let invalid = |why: String| DeriveError::Invalid {
                block: b.number,
                index,
                why,
            };
            let envelope = match TxEnvelope::decode_2718(&mut raw.as_ref()) {
                Ok(e) => e,
                Err(e) => {
                    failed = Some(invalid(format!("does not decode: {e}")));
                    break;
                }
            };
            let sender = match envelope.recover_signer() {
                Ok(s) => s,
                Err(e) => {
                    failed = Some(invalid(format!("bad signature: {e}")));
                    break;
                }
            };
            let out = match evm.transact(peregrine_chain::tx::tx_env(&envelope, sender)) {
                Ok(out) => out,
                Err(e) => {
                    failed = Some(invalid(format!("not executable: {e}")));
                    break;
                }
            };
            evm.ctx
                .journaled_state
                .database
                .state
                .commit(&out.state, &mut diff);
            cumulative += out.result.tx_gas_used();
            receipts.push(exec::receipt(envelope.tx_type(), &out.result, cumulative));
            envelopes.push(envelope);
        }
        let state = std::mem::take(&mut evm.ctx.journaled_state.database.state);
        match failed {
            Some(e) => (state, Err(e)),
            None => (state, Ok(ViewParts::over(&envelopes, &receipts))),
        }
    }
}

//! Test helpers (feature `test-utils`): run the sequencer loop on the calling thread,
//! sign transfers, copy a data directory.

use crate::{
    block::ChainEvent,
    config::SequencerConfig,
    exec::SequencerDb,
    hashes::BlockHashes,
    ring::Consumer,
    sequencer_loop::{LoopStart, SequencerLoop},
    state::WorldState,
    tx::PendingTx,
};
use alloy_consensus::TxEnvelope;
use alloy_primitives::{Address, U256};
use alloy_signer_local::PrivateKeySigner;
use crossbeam_channel::Receiver;
use std::{
    path::Path,
    sync::{Arc, atomic::AtomicBool},
};

pub use peregrine_chain::testing::{block_context, call, transfer};

/// Copies the directory tree `from` to `to`: a crash image of a running node's data
/// directory, when nothing is being committed to redb at that moment.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A loop over `state` that will drain `consumer`, close its block and return, plus the
/// receiver of what it emits. The loop starts after an empty genesis block.
pub fn draining_loop(
    cfg: SequencerConfig,
    state: WorldState,
    consumer: Consumer<PendingTx>,
) -> (SequencerLoop, Receiver<ChainEvent>) {
    // Stop is set up front: the loop drains the ring, closes the block and returns.
    let stop = Arc::new(AtomicBool::new(true));
    let (looper, received) = loop_until(cfg, state, consumer, stop);
    (looper, received)
}

/// Like [`draining_loop`], but the loop keeps waiting for transactions until `stop` is
/// set (then drains the ring, closes its block and returns).
pub fn loop_until(
    cfg: SequencerConfig,
    state: WorldState,
    consumer: Consumer<PendingTx>,
    stop: Arc<AtomicBool>,
) -> (SequencerLoop, Receiver<ChainEvent>) {
    let (events, received) = crossbeam_channel::bounded(cfg.chain_queue);
    let db = SequencerDb {
        state,
        hashes: Arc::new(BlockHashes::default()),
    };
    let start = LoopStart {
        head_number: 0,
        head_timestamp: 0,
        head_base_fee: cfg.min_base_fee,
        head_gas_used: 0,
        next_seq: 0,
        next_mini_block: 0,
    };
    (
        SequencerLoop::new(cfg, consumer, db, events, stop, start),
        received,
    )
}

/// Receives what a loop emits on another thread and drops it there, as the node's log
/// thread and chain service do, so the loop's buffers come back to it while it runs
/// ([`crate::recycle`]). The thread ends when the loop hangs up and returns how many
/// transactions the mini-blocks held.
pub fn drop_elsewhere(received: Receiver<ChainEvent>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        received
            .iter()
            .map(|event| match event {
                ChainEvent::MiniBlock(mini) => mini.txs.len(),
                _ => 0,
            })
            .sum()
    })
}

/// A ring of `capacity` slots holding `n` transfers of 1 wei from `signer` to `to`
/// (nonces 0..n, as they arrive at ingress), for a [`draining_loop`] to execute.
///
/// # Panics
/// When `n` transfers do not fit in `capacity` slots.
pub fn transfers_in_ring(
    signer: &PrivateKeySigner,
    chain_id: u64,
    capacity: usize,
    n: u64,
    to: Address,
) -> Consumer<PendingTx> {
    txs_in_ring(signer, capacity, n, |nonce| {
        transfer(signer, chain_id, nonce, to, U256::from(1))
    })
}

/// A ring of `capacity` slots holding `signer`'s transactions `make(0)..make(n)`.
///
/// # Panics
/// When `n` transactions do not fit in `capacity` slots.
pub fn txs_in_ring(
    signer: &PrivateKeySigner,
    capacity: usize,
    n: u64,
    mut make: impl FnMut(u64) -> TxEnvelope,
) -> Consumer<PendingTx> {
    let (producer, consumer) = crate::ring::channel(capacity).expect("a valid ring capacity");
    for nonce in 0..n {
        producer
            .try_push(PendingTx::new(make(nonce), signer.address(), 0))
            .expect("the transactions fit in the ring");
    }
    consumer
}

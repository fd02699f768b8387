//! Test helpers (feature `test-utils`): run the sequencer loop on the calling thread.

use crate::{
    config::SequencerConfig,
    exec::SequencerDb,
    hashes::BlockHashes,
    ring::Consumer,
    sequencer_loop::{ChainEvent, LoopStart, SequencerLoop},
    state::WorldState,
    tx::PendingTx,
};
use crossbeam_channel::Receiver;
use std::sync::{Arc, atomic::AtomicBool};

/// A loop over `state` that will drain `consumer`, close its block and return, plus the
/// receiver of what it emits. The loop starts after an empty genesis block.
pub fn draining_loop(
    cfg: SequencerConfig,
    state: WorldState,
    consumer: Consumer<PendingTx>,
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
    // Stop is set up front: the loop drains the ring, closes the block and returns.
    let stop = Arc::new(AtomicBool::new(true));
    (
        SequencerLoop::new(cfg, consumer, db, events, stop, start),
        received,
    )
}

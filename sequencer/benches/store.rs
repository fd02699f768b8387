//! What a block seal costs the chain thread in redb: `Store::put_block` of one L2 block of
//! 1 000 transfers, each in a mini-block of its own (the 1k TPS case: one signed record per
//! transaction), into a fresh database; the commit alone, once the mini-blocks were
//! written ahead as the node does, without waiting for the disk (the node's seal) and
//! with a sync; the synced empty commit that then makes that block durable (the
//! checkpoint's share of it); and the encoding of the 1 000 mini-block records.
//!
//! `cargo bench -p peregrine-sequencer --bench store -- --warm-up-time 1 --measurement-time 5`

#![allow(missing_docs)]

use alloy_primitives::{Address, B256, U256};
use criterion::{BatchSize, Criterion};
use peregrine_preconf::SequencerKey;
use peregrine_sequencer::{
    GenesisSpec, SequencerConfig,
    block::ChainEvent,
    diff::StateDiff,
    genesis::dev_mnemonic_signers,
    record::{MiniBlockRecord, sign_mini_block},
    store::{BlockWriter, Counters, Store, StoredBlock, encode_mini_block_record},
    testing::{block_context, draining_loop, transfers_in_ring},
};
use std::{hint::black_box, sync::Arc};

const TXS: u64 = 1000;

/// One block's worth of signed one-transaction mini-blocks, executed by the real loop, and
/// the block they make.
fn block() -> (StoredBlock, Vec<Arc<MiniBlockRecord>>, StateDiff) {
    let signer = dev_mnemonic_signers().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SequencerConfig::new(dir.path().to_path_buf());
    cfg.max_mini_block_txs = 1;
    let genesis = GenesisSpec::dev(0, U256::from(10u64).pow(U256::from(24)));
    let consumer = transfers_in_ring(&signer, cfg.chain_id, 2048, TXS, Address::repeat_byte(7));
    let (looper, received) = draining_loop(cfg.clone(), genesis.state(), consumer);
    looper.run();
    let key = SequencerKey::dev();
    let mut parent = B256::ZERO;
    let mut txs = Vec::new();
    let mut records = Vec::new();
    let mut diff = StateDiff::default();
    for event in received.try_iter() {
        if let ChainEvent::MiniBlock(mini) = event {
            let record = sign_mini_block(&key, cfg.chain_id, parent, &mini);
            parent = record.hash;
            diff.merge(&record.state_diff);
            txs.extend(mini.txs.iter().cloned());
            records.push(Arc::new(record));
        }
    }
    assert_eq!(records.len() as u64, TXS, "one mini-block per transfer");
    let envelopes: Vec<_> = txs.iter().map(|t| t.envelope.clone()).collect();
    let receipts: Vec<_> = txs.iter().map(|t| t.receipt.clone()).collect();
    let header = peregrine_sequencer::view::block_header(
        B256::ZERO,
        &block_context(1),
        &peregrine_sequencer::view::ViewParts::over(&envelopes, &receipts),
        B256::ZERO,
        Default::default(),
    );
    (StoredBlock::new(header, &txs), records, diff)
}

/// An empty database in a directory of its own (kept alive with it).
fn fresh_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    (dir, store)
}

/// A fresh database with `records` written into the next block's transaction, as the node
/// writes them while the block is open.
fn written_ahead(records: &[Arc<MiniBlockRecord>]) -> (tempfile::TempDir, Store, BlockWriter) {
    let (dir, store) = fresh_store();
    let mut writer = store.begin_block().unwrap();
    writer
        .add_mini_blocks(records.iter().map(|r| (r.as_ref(), None)))
        .unwrap();
    (dir, store, writer)
}

/// `ahead`, with the block's commit not waiting for the disk (the node's seal).
fn ahead_deferred(
    ahead: &impl Fn() -> (tempfile::TempDir, Store, BlockWriter),
) -> impl Fn() -> (tempfile::TempDir, Store, BlockWriter) + '_ {
    move || {
        let (dir, store, mut writer) = ahead();
        writer.defer_sync().unwrap();
        (dir, store, writer)
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let (block, records, diff) = block();
    let bytes: usize = records
        .iter()
        .map(|r| {
            let mut buf = Vec::new();
            encode_mini_block_record(r, &mut buf).unwrap();
            buf.len()
        })
        .sum();
    let json: usize = records
        .iter()
        .map(|r| serde_json::to_vec(r.as_ref()).unwrap().len())
        .sum();
    println!("{TXS} mini-block records: {bytes} bytes as stored, {json} bytes as JSON",);
    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    group.bench_function("encode_1000_records/stored", |b| {
        let mut buf = Vec::new();
        b.iter(|| {
            for r in &records {
                buf.clear();
                encode_mini_block_record(r, &mut buf).unwrap();
                black_box(&buf);
            }
        })
    });
    group.bench_function("encode_1000_records/json", |b| {
        b.iter(|| {
            for r in &records {
                black_box(serde_json::to_vec(r.as_ref()).unwrap());
            }
        })
    });
    group.bench_function("put_block_1000_one_tx_mini_blocks", |b| {
        b.iter_batched(
            fresh_store,
            |(dir, store)| {
                store
                    .put_block(&block, &records, &diff, Counters::default(), 901)
                    .unwrap();
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    // What is left for the seal when the mini-blocks went in as they were applied: the
    // node's way (its commit does not wait for the disk), and with a sync, as before the
    // checkpoints. Then the checkpoint's share of one such block: a synced empty commit.
    let ahead = || written_ahead(&records);
    let commit = |(dir, store, writer): (tempfile::TempDir, Store, BlockWriter)| {
        writer
            .commit(&block, &diff, Counters::default(), 901)
            .unwrap();
        (dir, store)
    };
    group.bench_function("commit_after_1000_mini_blocks_written/deferred", |b| {
        b.iter_batched(ahead_deferred(&ahead), commit, BatchSize::PerIteration)
    });
    group.bench_function("commit_after_1000_mini_blocks_written/synced", |b| {
        b.iter_batched(ahead, commit, BatchSize::PerIteration)
    });
    group.bench_function("persist_after_one_deferred_block", |b| {
        b.iter_batched(
            || commit(ahead_deferred(&ahead)()),
            |(dir, store)| {
                store.persist().unwrap();
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("add_1000_mini_blocks_one_by_one", |b| {
        b.iter_batched(
            || {
                let (dir, store) = fresh_store();
                let writer = store.begin_block().unwrap();
                (dir, store, writer)
            },
            |(dir, store, mut writer)| {
                for r in &records {
                    writer.add_mini_blocks([(r.as_ref(), None)]).unwrap();
                }
                (dir, store, writer)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    c.final_summary();
}

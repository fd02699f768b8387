//! The replica's apply path (#9) against re-execution, in one run: the same transfers
//! executed by the sequencer loop (revm: ring, nonce checks, execution, state diff), and
//! applied from their signed records by an [`Applier`] (no EVM: raw transactions decoded,
//! receipts rebuilt, the diff applied, the block views' tries). Two shapes: 1 000
//! transfers in one mini-block (high load), 200 in mini-blocks of one (low load).
//! Neither side seals (both would seal alike).
//!
//! `cargo bench -p peregrine-sequencer --bench apply -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs)]

use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes, U256};
use criterion::{BatchSize, Criterion, Throughput};
use peregrine_preconf::SequencerKey;
use peregrine_sequencer::{
    GenesisSpec, MiniBlock, SequencerConfig,
    apply::{Applier, ApplierConfig},
    block::ChainEvent,
    genesis::dev_mnemonic_signers,
    record::{MiniBlockRecord, sign_mini_block},
    testing::{draining_loop, drop_elsewhere, transfers_in_ring},
};
use std::hint::black_box;

fn config(per_mini: u64) -> (tempfile::TempDir, SequencerConfig, GenesisSpec) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SequencerConfig::new(dir.path().to_path_buf());
    cfg.max_mini_block_txs = per_mini as usize;
    let mut genesis = GenesisSpec::dev(0, U256::from(10u64).pow(U256::from(24)));
    genesis.timestamp = Some(1_800_000_000);
    (dir, cfg, genesis)
}

/// The loop over a ring of `n` transfers, ready to run.
fn execution(
    n: u64,
    per_mini: u64,
) -> (
    peregrine_sequencer::sequencer_loop::SequencerLoop,
    std::thread::JoinHandle<usize>,
) {
    let (_dir, cfg, genesis) = config(per_mini);
    let signer = dev_mnemonic_signers().remove(0);
    let consumer = transfers_in_ring(&signer, cfg.chain_id, 4096, n, Address::repeat_byte(7));
    let (looper, received) = draining_loop(cfg, genesis.state(), consumer);
    (looper, drop_elsewhere(received))
}

/// The signed records and raw transactions of `n` transfers, executed once.
fn records(n: u64, per_mini: u64) -> Vec<(MiniBlockRecord, MiniBlock, Vec<Bytes>)> {
    let (_dir, cfg, genesis) = config(per_mini);
    let signer = dev_mnemonic_signers().remove(0);
    let consumer = transfers_in_ring(&signer, cfg.chain_id, 4096, n, Address::repeat_byte(7));
    let (looper, received) = draining_loop(cfg, genesis.state(), consumer);
    looper.run();
    let key = SequencerKey::dev();
    let mut parent = Default::default();
    received
        .try_iter()
        .filter_map(|e| match e {
            ChainEvent::MiniBlock(m) => Some(m),
            _ => None,
        })
        .map(|mini| {
            let record = sign_mini_block(&key, 901, parent, &mini);
            parent = record.hash;
            let raw = mini
                .txs
                .iter()
                .map(|t| t.envelope.encoded_2718().into())
                .collect();
            (record, mini, raw)
        })
        .collect()
}

fn applier() -> (tempfile::TempDir, Applier) {
    let (dir, cfg, genesis) = config(1);
    let applier = Applier::open(
        &ApplierConfig {
            datadir: dir.path().to_path_buf(),
            chain_id: cfg.chain_id,
            sequencer: SequencerKey::dev().address(),
            min_base_fee: cfg.min_base_fee,
            block_gas_limit: cfg.block_gas_limit,
            checkpoint_blocks: 64,
        },
        &genesis,
    )
    .unwrap();
    (dir, applier)
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("apply_vs_execute");
    group.sample_size(20);
    for (n, per_mini) in [(1000u64, 1000u64), (200, 1)] {
        group.throughput(Throughput::Elements(n));
        group.bench_function(
            format!("execute/{n}_transfers_in_mini_blocks_of_{per_mini}"),
            |b| {
                b.iter_batched(
                    || execution(n, per_mini),
                    |(looper, drained)| {
                        looper.run();
                        black_box(drained.join().unwrap())
                    },
                    BatchSize::PerIteration,
                )
            },
        );
        let recorded = records(n, per_mini);
        assert_eq!(
            recorded
                .iter()
                .map(|r| r.0.transactions.len() as u64)
                .sum::<u64>(),
            n
        );
        group.bench_function(
            format!("apply/{n}_transfers_in_mini_blocks_of_{per_mini}"),
            |b| {
                b.iter_batched(
                    || (applier(), recorded.clone()),
                    |((_dir, mut applier), recorded)| {
                        for (record, _, _) in recorded {
                            applier.apply(record).unwrap();
                        }
                        black_box(applier)
                    },
                    BatchSize::PerIteration,
                )
            },
        );
    }
    group.finish();
    c.final_summary();
}

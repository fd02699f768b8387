//! The replica's apply path (#9) against re-execution, in one run, on a mix of ETH
//! transfers and ERC-20 transfers (half each, the loadtest's `LoadToken`):
//!
//! - `execute`: the sequencer loop executing them with revm (ring, nonce checks,
//!   execution, the state diff): what a replica that re-executes would do for the state;
//! - `apply_state`: applying their signed state diffs to the same starting state, what a
//!   replica does for the state instead;
//! - `apply`: the whole replica path per mini-block, [`Applier::apply`]: the checks (the
//!   EIP-712 signature, every Merkle root, senders, context, raw bytes), raw transactions
//!   decoded, receipts rebuilt, the diff applied, block views' tries, the feed, the store's
//!   write-ahead. A re-executing replica would do all of it but the signature and diff
//!   checks on top of `execute`.
//!
//! Two shapes: 1 000 transactions in one mini-block (high load), 200 in mini-blocks of
//! one (low load). Nothing seals (both kinds of replica would seal alike).
//!
//! `cargo bench -p peregrine-sequencer --bench apply -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs)]

use alloy_primitives::{Address, Bytes, U256, hex};
use alloy_signer_local::PrivateKeySigner;
use criterion::{BatchSize, Criterion, Throughput};
use peregrine_preconf::SequencerKey;
use peregrine_sequencer::{
    GenesisSpec, SequencerConfig, WorldState,
    apply::{Applier, ApplierConfig},
    block::ChainEvent,
    genesis::{GenesisAccount, dev_mnemonic_signers},
    record::{MiniBlockRecord, sign_mini_block},
    testing::{call, draining_loop, drop_elsewhere, transfer},
};
use std::hint::black_box;

/// The loadtest's ERC-20 token, creation bytecode.
const LOAD_TOKEN_BIN: &str = include_str!("../../loadtest/contracts/LoadToken.bin");
const CHAIN_ID: u64 = 901;
const RECIPIENT: Address = Address::repeat_byte(7);
/// Senders of the mix, round robin: each mini-block's state diff then holds as many
/// accounts as a real one would (one sender would shrink it to four accounts).
const SENDERS: u64 = 100;

/// The extra dev accounts that send the mix.
fn senders() -> Vec<PrivateKeySigner> {
    (0..SENDERS)
        .map(|i| {
            PrivateKeySigner::from_bytes(&peregrine_sequencer::genesis::dev_account_key(i))
                .expect("a valid key")
        })
        .collect()
}

/// A ring holding `txs` with their senders, in order.
fn ring_of(
    txs: Vec<(alloy_consensus::TxEnvelope, Address)>,
) -> peregrine_sequencer::ring::Consumer<peregrine_sequencer::PendingTx> {
    let (producer, consumer) = peregrine_sequencer::ring::channel(4096).expect("a ring");
    for (tx, sender) in txs {
        producer
            .try_push(peregrine_sequencer::PendingTx::new(tx, sender, 0))
            .expect("fits");
    }
    consumer
}

fn config(per_mini: u64) -> SequencerConfig {
    let mut cfg = SequencerConfig::new(std::env::temp_dir());
    cfg.max_mini_block_txs = per_mini as usize;
    cfg
}

fn base_genesis() -> GenesisSpec {
    let mut genesis = GenesisSpec::dev(SENDERS, U256::from(10u64).pow(U256::from(24)));
    genesis.timestamp = Some(1_800_000_000);
    genesis
}

/// Executes `txs` on `genesis` in one loop run and returns the mini-blocks' events.
fn run(
    genesis: &GenesisSpec,
    per_mini: u64,
    txs: Vec<(alloy_consensus::TxEnvelope, Address)>,
) -> Vec<ChainEvent> {
    let (looper, received) = draining_loop(config(per_mini), genesis.state(), ring_of(txs));
    looper.run();
    received.try_iter().collect()
}

/// The genesis with `LoadToken` deployed at `signer`'s first contract address, every
/// sender holding tokens: deployed and minted through the loop once, its code and storage
/// taken from the state diff.
fn genesis_with_token(signer: &PrivateKeySigner) -> (GenesisSpec, Address) {
    let base = base_genesis();
    let token = signer.address().create(0);
    let code = Bytes::from(hex::decode(LOAD_TOKEN_BIN.trim()).expect("hex"));
    // mintBatch([signer], 10^30)
    let mut mint = alloy_primitives::keccak256("mintBatch(address[],uint256)")[..4].to_vec();
    mint.extend_from_slice(&U256::from(0x40).to_be_bytes::<32>());
    mint.extend_from_slice(&U256::from(10u64).pow(U256::from(24)).to_be_bytes::<32>());
    mint.extend_from_slice(&U256::from(SENDERS).to_be_bytes::<32>());
    for s in senders() {
        mint.extend_from_slice(&U256::from_be_slice(s.address().as_slice()).to_be_bytes::<32>());
    }
    let deploy = alloy_consensus::TxEnvelope::from(call_create(signer, code));
    let mint = call(
        signer,
        CHAIN_ID,
        1,
        token,
        U256::ZERO,
        mint.into(),
        5_000_000,
    );
    let events = run(
        &base,
        1000,
        vec![(deploy, signer.address()), (mint, signer.address())],
    );
    let mut state = base.state();
    let mut codes = std::collections::BTreeMap::new();
    let mut storage = std::collections::BTreeMap::new();
    for e in &events {
        if let ChainEvent::MiniBlock(m) = e {
            assert!(
                m.txs.iter().all(|t| t.receipt.status()),
                "deploy and mint succeed"
            );
            let diff = m.diff.to_state_diff();
            state.apply(&diff);
            codes.extend(diff.codes.clone());
            if let Some(change) = diff.accounts.get(&token) {
                storage.extend(change.storage.iter().map(|(k, v)| (*k, *v)));
            }
        }
    }
    let info = state.account(&token).expect("the token exists");
    let mut genesis = base;
    genesis.accounts.push(GenesisAccount {
        address: token,
        nonce: info.nonce,
        balance: U256::ZERO,
        code: codes.get(&info.code_hash).cloned(),
        storage: storage.into_iter().collect(),
    });
    (genesis, token)
}

fn call_create(
    signer: &PrivateKeySigner,
    code: Bytes,
) -> alloy_consensus::Signed<alloy_consensus::TxEip1559> {
    use alloy_consensus::SignableTransaction;
    use alloy_signer::SignerSync;
    let tx = alloy_consensus::TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_limit: 3_000_000,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 0,
        to: alloy_primitives::TxKind::Create,
        value: U256::ZERO,
        access_list: Default::default(),
        input: code,
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).expect("signs");
    tx.into_signed(sig)
}

/// `n` transactions from the [`SENDERS`] in turn: ETH and ERC-20 transfers, alternating.
fn mix(token: Address, n: u64) -> Vec<(alloy_consensus::TxEnvelope, Address)> {
    let senders = senders();
    let mut data = alloy_primitives::keccak256("transfer(address,uint256)")[..4].to_vec();
    data.extend_from_slice(&U256::from_be_slice(RECIPIENT.as_slice()).to_be_bytes::<32>());
    data.extend_from_slice(&U256::from(1).to_be_bytes::<32>());
    let data = Bytes::from(data);
    (0..n)
        .map(|i| {
            let signer = &senders[(i % SENDERS) as usize];
            let nonce = i / SENDERS;
            let tx = if i % 2 == 0 {
                transfer(signer, CHAIN_ID, nonce, RECIPIENT, U256::from(1))
            } else {
                call(
                    signer,
                    CHAIN_ID,
                    nonce,
                    token,
                    U256::ZERO,
                    data.clone(),
                    90_000,
                )
            };
            (tx, signer.address())
        })
        .collect()
}

/// The signed records of the mix, executed once.
fn records(
    genesis: &GenesisSpec,
    per_mini: u64,
    txs: Vec<(alloy_consensus::TxEnvelope, Address)>,
) -> Vec<MiniBlockRecord> {
    let key = SequencerKey::dev();
    let mut parent = Default::default();
    run(genesis, per_mini, txs)
        .into_iter()
        .filter_map(|e| match e {
            ChainEvent::MiniBlock(m) => Some(m),
            _ => None,
        })
        .map(|mini| {
            assert!(
                mini.txs.iter().all(|t| t.receipt.status()),
                "every transaction succeeds"
            );
            let record = sign_mini_block(&key, CHAIN_ID, parent, &mini);
            parent = record.hash;
            record
        })
        .collect()
}

fn applier(genesis: &GenesisSpec) -> (tempfile::TempDir, Applier) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(1);
    let applier = Applier::open(
        &ApplierConfig {
            datadir: dir.path().to_path_buf(),
            chain_id: CHAIN_ID,
            sequencer: SequencerKey::dev().address(),
            min_base_fee: cfg.min_base_fee,
            block_gas_limit: cfg.block_gas_limit,
            checkpoint_blocks: 64,
        },
        genesis,
    )
    .unwrap();
    (dir, applier)
}

fn main() {
    let signer = dev_mnemonic_signers().remove(0);
    let (genesis, token) = genesis_with_token(&signer);
    let start: WorldState = genesis.state();
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("apply_vs_execute");
    group.sample_size(20);
    for (n, per_mini) in [(1000u64, 1000u64), (200, 1)] {
        let shape = format!("{n}_mixed_in_mini_blocks_of_{per_mini}");
        group.throughput(Throughput::Elements(n));
        group.bench_function(format!("execute/{shape}"), |b| {
            b.iter_batched(
                || {
                    let consumer = ring_of(mix(token, n));
                    let (looper, received) =
                        draining_loop(config(per_mini), start.clone(), consumer);
                    (looper, drop_elsewhere(received))
                },
                |(looper, drained)| {
                    looper.run();
                    black_box(drained.join().unwrap())
                },
                BatchSize::PerIteration,
            )
        });
        let recorded = records(&genesis, per_mini, mix(token, n));
        assert_eq!(
            recorded
                .iter()
                .map(|r| r.transactions.len() as u64)
                .sum::<u64>(),
            n
        );
        group.bench_function(format!("apply_state/{shape}"), |b| {
            b.iter_batched(
                || start.clone(),
                |mut state| {
                    for r in &recorded {
                        state.apply(&r.state_diff);
                    }
                    black_box(state)
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("apply/{shape}"), |b| {
            b.iter_batched(
                || (applier(&genesis), recorded.clone()),
                |((_dir, mut applier), recorded)| {
                    for record in recorded {
                        applier.apply(record).unwrap();
                    }
                    black_box(applier)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
    c.final_summary();
}

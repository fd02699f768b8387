//! The sequencer loop run on the test thread over a pre-filled ring, so every
//! transaction lands in one mini-block.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_primitives::{Address, Bytes, TxKind, U256, address, bytes};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use peregrine_sequencer::{
    GenesisSpec, MiniBlock, PendingTx, SequencerConfig,
    genesis::{GenesisAccount, dev_mnemonic_signers},
    ring,
    sequencer_loop::ChainEvent,
    state::WorldState,
    testing::draining_loop,
};

/// Counter: no calldata increments slot 0; any calldata only reads slot 0.
const COUNTER: Address = address!("c0ffee0000000000000000000000000000000001");
const COUNTER_CODE: Bytes = bytes!("36600e57600054600101600055005b6000545000");

fn call(signer: &PrivateKeySigner, nonce: u64, to: Address, input: Bytes) -> PendingTx {
    let tx = TxEip1559 {
        chain_id: 901,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(to),
        value: U256::ZERO,
        access_list: Default::default(),
        input,
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    PendingTx::new(TxEnvelope::from(tx.into_signed(sig)), signer.address(), 0)
}

/// Runs `txs` through a fresh loop; returns the mini-blocks and the genesis state.
fn run(txs: Vec<PendingTx>) -> (Vec<MiniBlock>, WorldState) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SequencerConfig::new(dir.path().to_path_buf());
    let mut genesis = GenesisSpec::dev(0, U256::from(10u64).pow(U256::from(22)));
    genesis.accounts.push(GenesisAccount {
        address: COUNTER,
        nonce: 1,
        balance: U256::ZERO,
        code: Some(COUNTER_CODE),
        storage: vec![],
    });
    let (producer, consumer) = ring::channel(64).unwrap();
    for tx in txs {
        producer.try_push(tx).unwrap();
    }
    let (looper, received) = draining_loop(cfg, genesis.state(), consumer);
    looper.run();
    let minis = received
        .try_iter()
        .filter_map(|e| match e {
            ChainEvent::MiniBlock(m) => Some(m),
            _ => None,
        })
        .collect();
    (minis, genesis.state())
}

#[test]
fn a_slot_written_then_only_read_in_one_mini_block_is_in_the_diff() {
    let alice = dev_mnemonic_signers().remove(0);
    let (minis, mut state) = run(vec![
        call(&alice, 0, COUNTER, Bytes::new()),
        call(&alice, 1, COUNTER, bytes!("01")),
        call(&alice, 2, COUNTER, Bytes::new()),
        call(&alice, 3, COUNTER, bytes!("01")),
    ]);
    assert_eq!(minis.len(), 1, "all four transactions share one mini-block");
    let mini = &minis[0];
    assert_eq!(mini.txs.len(), 4);
    assert!(mini.txs.iter().all(|t| t.receipt.status()));
    let diff = mini.diff.to_state_diff();
    let change = &diff.accounts[&COUNTER];
    assert_eq!(change.storage.get(&U256::ZERO), Some(&U256::from(2)));
    assert_eq!(diff.accounts[&alice.address()].info.unwrap().nonce, 4);
    // Applying the diff reproduces the loop's result.
    state.apply(&diff);
    assert_eq!(state.storage(&COUNTER, &U256::ZERO), U256::from(2));
}

#[test]
fn nonces_within_one_mini_block_come_from_the_journal() {
    let alice = dev_mnemonic_signers().remove(1);
    let bob = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    // nonce 0, a duplicate nonce 0 (must be dropped), then 1.
    let (minis, _) = run(vec![
        call(&alice, 0, bob, Bytes::new()),
        call(&alice, 0, COUNTER, Bytes::new()),
        call(&alice, 1, bob, Bytes::new()),
    ]);
    let executed: Vec<u64> = minis
        .iter()
        .flat_map(|m| {
            m.txs
                .iter()
                .map(|t| alloy_consensus::Transaction::nonce(&t.envelope))
        })
        .collect();
    assert_eq!(executed, vec![0, 1]);
}

//! The replica's path (#9) against the sequencer's own blocks: every mini-block of a real
//! node, checked by a [`Follower`] and applied by an [`Applier`] (no EVM) over a data
//! directory of its own, seals the same blocks, hash for hash, with the same state.

use crate::node::{BOB, CHAIN_ID, config, genesis, signer, transfer};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, U256, address, bytes};
use peregrine_preconf::SequencerKey;
use peregrine_sequencer::{
    BlockContext, Node,
    apply::{Applier, ApplierConfig},
    genesis::GenesisAccount,
    view::context_of,
};
use std::time::{Duration, Instant};

/// slot 0 += 1, then LOG1(topic 0xaa, data = the new value).
const COUNTER: Address = address!("c0ffee00000000000000000000000000000000aa");
const COUNTER_CODE: Bytes = bytes!("6000546001018060005560005260aa60206000a100");

#[test]
fn applied_mini_blocks_seal_the_same_blocks_without_executing() {
    follow_the_node(false);
}

/// The same with the chain service on its own thread (the replica's way): the same
/// blocks, and a seal that differs, found there, stops it for good.
#[test]
fn a_chain_thread_seals_the_same_blocks_and_stops_on_a_seal_that_differs() {
    follow_the_node(true);
}

fn follow_the_node(threaded: bool) {
    let mut spec = genesis();
    spec.timestamp = Some(1_800_000_000);
    spec.accounts.push(GenesisAccount {
        address: COUNTER,
        nonce: 1,
        balance: U256::ZERO,
        code: Some(COUNTER_CODE),
        storage: vec![],
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (min_base_fee, gas_limit) = (cfg.min_base_fee, cfg.block_gas_limit);
    let node = Node::start(cfg, &spec).unwrap();
    let (alice, bob) = (signer(0), signer(1));
    let mut sent = Vec::new();
    let (mut alice_nonce, mut bob_nonce) = (0, 0);
    for i in 0..20u64 {
        let tx = if i % 3 == 0 {
            bob_nonce += 1;
            peregrine_sequencer::testing::call(
                &bob,
                CHAIN_ID,
                bob_nonce - 1,
                COUNTER,
                U256::ZERO,
                Bytes::new(),
                100_000,
            )
            .encoded_2718()
        } else {
            alice_nonce += 1;
            transfer(&alice, alice_nonce - 1, BOB, u128::from(i))
        };
        sent.push(node.ingress().submit(&tx).unwrap());
        if i % 4 == 0 {
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    // Until every transaction is sealed, and one block more.
    let last = *sent.last().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let sealed_in = loop {
        if let Some((n, _)) = node.chain().reader().unwrap().tx_location(&last).unwrap() {
            break n;
        }
        assert!(Instant::now() < deadline, "not sealed");
        std::thread::sleep(Duration::from_millis(10));
    };
    while node.chain().head().header.number <= sealed_in {
        assert!(Instant::now() < deadline, "no block after");
        std::thread::sleep(Duration::from_millis(10));
    }
    let head = node.chain().head().header.number;

    let replica_dir = tempfile::tempdir().unwrap();
    let applier_cfg = ApplierConfig {
        datadir: replica_dir.path().to_path_buf(),
        chain_id: CHAIN_ID,
        sequencer: node.chain().feed.sequencer(),
        min_base_fee,
        block_gas_limit: gas_limit,
        checkpoint_blocks: 4,
    };
    let mut applier = Applier::open(&applier_cfg, &spec).unwrap();
    if threaded {
        applier = applier.with_chain_thread(8, 0).unwrap();
    }
    let source = node.chain().reader().unwrap();
    assert_eq!(
        applier.chain().head().hash,
        source.block(0).unwrap().unwrap().hash,
        "the same genesis"
    );
    let mut next_mini = 0;
    for number in 1..=head {
        let block = source.block(number).unwrap().unwrap();
        let ctx: BlockContext = context_of(&block.header);
        let seal = source
            .seal(number)
            .unwrap()
            .expect("every sealed block has a seal");
        assert_eq!(seal.seal.blockHash, block.hash);
        assert_eq!(
            seal.recover_signer().unwrap(),
            node.chain().feed.sequencer()
        );
        // This block's mini-blocks, in order.
        while next_mini < seal.seal.nextMiniBlock {
            let record = node.chain().mini_block(next_mini).unwrap().unwrap();
            assert_eq!(record.block_number(), number);
            assert_eq!(record.block, ctx);
            applier.apply((*record).clone()).unwrap();
            next_mini += 1;
        }
        let mut forged = seal;
        forged.seal.stateRoot = B256::repeat_byte(1);
        forged.signature = SequencerKey::dev().sign_digest(forged.seal.signing_hash());
        if number == 2 && !threaded {
            // A seal whose block is not the one built here is refused before anything
            // is stored; the genuine one then goes through.
            let err = applier.seal(forged, ctx).unwrap_err();
            assert_eq!(err.reason(), "seal_mismatch", "{err}");
            assert_eq!(applier.chain().head().header.number, 1);
        } else if number == head && threaded {
            // On a chain thread, the difference is found there: it stops, with the
            // cause as the replica's fault, and nothing more is taken.
            applier.seal(forged, ctx).unwrap();
            let err = applier.flush().unwrap_err();
            assert_eq!(err.reason(), "stopped", "{err}");
            assert!(err.is_fatal());
            let fault = applier.fault().get().cloned().expect("a fault");
            assert!(fault.contains("the sequencer signed"), "{fault}");
            assert_eq!(applier.chain().head().header.number, head - 1);
            let err = applier.apply((*stray_of(&node)).clone()).unwrap_err();
            assert!(err.is_fatal() || err.reason() == "wrong_block", "{err}");
            return;
        }
        applier.seal(seal, ctx).unwrap();
        applier.flush().unwrap();
        let sealed = applier.chain().head();
        assert_eq!(sealed.hash, block.hash, "block {number} sealed differently");
        assert_eq!(sealed.header, block.header, "block {number}");
    }
    assert_eq!(applier.next_mini_block(), next_mini);
    // A mini-block of another block than the open one is refused, not applied.
    let stray = node.chain().mini_block(0).unwrap().unwrap();
    let err = applier.apply((*stray).clone()).unwrap_err();
    assert_eq!(err.reason(), "wrong_block", "{err}");
    // The same state, receipts and views on both sides.
    let replica = applier.chain().reader().unwrap();
    for address in [alice.address(), bob.address(), BOB, COUNTER] {
        assert_eq!(
            replica.account(&address).unwrap(),
            source.account(&address).unwrap(),
            "{address}"
        );
    }
    assert_eq!(
        replica.storage(&COUNTER, &U256::ZERO).unwrap(),
        U256::from(7),
        "seven increments"
    );
    for hash in &sent {
        let (theirs, ours) = (
            source.sealed_receipt(hash).unwrap().unwrap(),
            replica.sealed_receipt(hash).unwrap().unwrap(),
        );
        assert_eq!(ours.receipt, theirs.receipt, "{hash}");
        assert_eq!(ours.block_hash, theirs.block_hash);
        assert_eq!(ours.first_log_index, theirs.first_log_index);
    }

    // Mini-blocks of a block not sealed yet: closing leaves them to the stream (they were
    // never durable), and the chain reopens at its last sealed block. (That a close with
    // many of them written ahead returns at all: e2e `a_replica_stops_cleanly_under_load`.)
    let (sealed_head, sealed_next) = (applier.chain().head(), applier.next_mini_block());
    let late = node
        .ingress()
        .submit(&transfer(&alice, alice_nonce, BOB, 1))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = next_mini;
    loop {
        assert!(Instant::now() < deadline, "the late transfer's mini-block");
        let Some(record) = node.chain().mini_block(n).unwrap() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let source = node.chain().reader().unwrap();
        while record.block_number() > applier.open_block() {
            let number = applier.open_block();
            let seal = source.seal(number).unwrap().expect("sealed");
            let ctx = context_of(&source.header(number).unwrap().unwrap());
            applier.seal(seal, ctx).unwrap();
        }
        let has_late = record.position(&late).is_some();
        applier.apply((*record).clone()).unwrap();
        n += 1;
        if has_late {
            break;
        }
    }
    let open_head = applier.chain().head();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || done_tx.send(applier.close()).unwrap());
    done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("close returns")
        .unwrap();
    let reopened = Applier::open(&applier_cfg, &spec).unwrap();
    assert_eq!(reopened.chain().head().hash, open_head.hash);
    assert!(reopened.chain().head().header.number >= sealed_head.header.number);
    assert!(reopened.next_mini_block() >= sealed_next);
    assert!(
        reopened.next_mini_block() < n,
        "the open block's mini-blocks were not kept"
    );
}

/// Mini-block 0 of `node`: of block 1, long sealed.
fn stray_of(node: &Node) -> std::sync::Arc<peregrine_sequencer::record::MiniBlockRecord> {
    node.chain().mini_block(0).unwrap().unwrap()
}

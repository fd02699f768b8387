//! A follower's checks ([`peregrine_sequencer::follow`]) over real signed mini-blocks of a
//! running node, and each kind of forgery a tampering peer could try.

use crate::node::{BOB, config, genesis, signer, transfer};
use alloy_primitives::{B256, Bytes, Log, U256, keccak256};
use peregrine_preconf::SequencerKey;
use peregrine_sequencer::{
    Node,
    follow::{Follower, Rejection, verify},
    record::MiniBlockRecord,
};
use std::time::{Duration, Instant};

/// Six transfers, each in its mini-block, and the follower at the chain's start.
fn chain() -> (tempfile::TempDir, Node, Vec<MiniBlockRecord>, Follower) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.block_time = Duration::from_secs(3600);
    let node = Node::start(cfg, &genesis()).unwrap();
    let alice = signer(0);
    let mut records = Vec::new();
    for nonce in 0..6 {
        let hash = node
            .ingress()
            .submit(&transfer(&alice, nonce, BOB, 1 + u128::from(nonce)))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let record = loop {
            if let Some((record, _)) = node.chain().preconfirmed(&hash).unwrap() {
                break record;
            }
            assert!(Instant::now() < deadline, "{hash} was not preconfirmed");
            std::thread::sleep(Duration::from_millis(2));
        };
        records.push((*record).clone());
    }
    let follower = Follower {
        chain_id: 901,
        sequencer: node.chain().feed.sequencer(),
        next: 0,
        parent: B256::ZERO,
    };
    (dir, node, records, follower)
}

#[test]
fn the_real_stream_is_accepted_in_order() {
    let (_dir, _node, records, mut follower) = chain();
    let start = follower;
    for r in &records {
        follower.accept(r).unwrap();
    }
    assert_eq!(follower.next, records.len() as u64);
    assert_eq!(follower.parent, records.last().unwrap().hash);
    // The same in two steps (a reader thread verifies, the applying thread places).
    let mut split = start;
    for r in &records {
        let verified = verify(split.chain_id, split.sequencer, r.clone()).unwrap();
        split.accept_verified(&verified).unwrap();
    }
    assert_eq!(split, follower);
    // A record verified for another key is not this follower's to place.
    let other = verify(
        901,
        alloy_primitives::Address::repeat_byte(9),
        records[0].clone(),
    );
    assert_eq!(other.unwrap_err().reason(), "bad_signature");
    let mut elsewhere = start;
    elsewhere.sequencer = alloy_primitives::Address::repeat_byte(9);
    let verified = verify(start.chain_id, start.sequencer, records[0].clone()).unwrap();
    assert_eq!(
        elsewhere.accept_verified(&verified).unwrap_err().reason(),
        "bad_signature"
    );
}

#[test]
fn every_forgery_is_refused_and_the_follower_stays_put() {
    let (_dir, _node, records, mut follower) = chain();
    follower.accept(&records[0]).unwrap();
    let at = follower;
    let refused = |follower: &mut Follower, r: &MiniBlockRecord| -> Rejection {
        let rejection = follower.accept(r).expect_err("a forgery was accepted");
        assert_eq!(*follower, at, "a refusal moved the follower");
        // Refused in two steps too (verified on a reader thread, placed on the applier).
        let mut split = *follower;
        let placed = verify(split.chain_id, split.sequencer, r.clone())
            .and_then(|v| split.accept_verified(&v));
        assert!(placed.is_err(), "the two-step path took it ({rejection})");
        assert_eq!(split, at, "a refusal moved the follower");
        rejection
    };

    // A dropped mini-block, two swapped, one replayed.
    assert!(matches!(
        refused(&mut follower, &records[2]),
        Rejection::WrongNumber {
            got: 2,
            expected: 1
        }
    ));
    assert!(matches!(
        refused(&mut follower, &records[0]),
        Rejection::WrongNumber {
            got: 0,
            expected: 1
        }
    ));

    // A bad signature, and a good one by another key.
    let mut bad = records[1].clone();
    let mut sig = bad.signature.to_vec();
    sig[5] ^= 0x40;
    bad.signature = Bytes::from(sig);
    assert_eq!(refused(&mut follower, &bad).reason(), "bad_signature");
    let mut other = records[1].clone();
    let key = SequencerKey::from_bytes(&keccak256("someone else")).unwrap();
    other.signature = Bytes::copy_from_slice(&key.sign_digest(other.hash).as_bytes());
    let why = refused(&mut follower, &other);
    assert!(
        matches!(&why, Rejection::BadSignature(m) if m.contains("not by the sequencer")),
        "{why}"
    );

    // A changed balance in the state diff.
    let mut richer = records[1].clone();
    let change = richer
        .state_diff
        .accounts
        .get_mut(&BOB)
        .expect("the transfer changed the recipient");
    let fields = change.info.as_mut().expect("an account");
    fields.balance += U256::from(1_000_000);
    assert!(matches!(
        refused(&mut follower, &richer),
        Rejection::RootMismatch {
            which: "stateDiff",
            ..
        }
    ));

    // Another transaction hash, a receipt's status, a log added to a receipt.
    let mut swapped_tx = records[1].clone();
    swapped_tx.transactions[0].hash = records[2].transactions[0].hash;
    assert_eq!(refused(&mut follower, &swapped_tx).reason(), "raw_mismatch");
    swapped_tx.transactions[0].raw = records[2].transactions[0].raw.clone();
    assert!(matches!(
        refused(&mut follower, &swapped_tx),
        Rejection::RootMismatch {
            which: "transactions",
            ..
        }
    ));
    // Another sender; another base fee in the block context.
    let mut other_sender = records[1].clone();
    other_sender.transactions[0].from = BOB;
    assert!(matches!(
        refused(&mut follower, &other_sender),
        Rejection::RootMismatch {
            which: "senders",
            ..
        }
    ));
    let mut cheaper = records[1].clone();
    cheaper.block.base_fee += 1;
    assert!(matches!(
        refused(&mut follower, &cheaper),
        Rejection::RootMismatch {
            which: "blockContext",
            ..
        }
    ));
    let mut failed = records[1].clone();
    failed.transactions[0].receipt.success = false;
    assert!(matches!(
        refused(&mut follower, &failed),
        Rejection::RootMismatch {
            which: "receipts",
            ..
        }
    ));
    let mut logged = records[1].clone();
    logged.transactions[0]
        .logs
        .push(Log::new_unchecked(BOB, vec![], Bytes::new()));
    assert!(matches!(
        refused(&mut follower, &logged),
        Rejection::RootMismatch { which: "logs", .. }
    ));

    // A header changed under its signature, another parent, another chain.
    let mut header = records[1].clone();
    header.header.receipts_root = B256::repeat_byte(1);
    assert_eq!(refused(&mut follower, &header).reason(), "wrong_hash");
    let mut parent = records[1].clone();
    parent.header.parent_hash = B256::repeat_byte(2);
    assert_eq!(refused(&mut follower, &parent).reason(), "wrong_parent");
    let mut chain = records[1].clone();
    chain.header.chain_id = 1;
    assert_eq!(refused(&mut follower, &chain).reason(), "wrong_chain");

    // And the real next one is still accepted.
    follower.accept(&records[1]).unwrap();
    follower.accept(&records[2]).unwrap();
}

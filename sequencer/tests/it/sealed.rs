//! The sealed-block seam ([`peregrine_sequencer::Chain::subscribe_sealed`]): every block,
//! in order, empty ones included, with its body and its mini-blocks' hashes.

use crate::node::{BOB, config, genesis, signer, transfer};
use alloy_primitives::B256;
use peregrine_sequencer::Node;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::TryRecvError;

#[test]
fn sealed_blocks_come_in_order_with_bodies_and_mini_block_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(dir.path()), &genesis()).unwrap();
    let mut sealed = node.chain().subscribe_sealed();
    let alice = signer(0);
    let sent: Vec<B256> = (0..10)
        .map(|nonce| {
            let hash = node
                .ingress()
                .submit(&transfer(&alice, nonce, BOB, 1))
                .unwrap();
            std::thread::sleep(Duration::from_millis(7));
            hash
        })
        .collect();
    let mut blocks = Vec::new();
    let mut seen: Vec<B256> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Until every transaction was sealed, and one more block (an empty one, most likely).
    while seen.len() < sent.len() || blocks.len() < 3 {
        match sealed.try_recv() {
            Ok(block) => {
                seen.extend(block.block.txs.iter().map(|t| *t.tx_hash()));
                blocks.push(block);
            }
            Err(TryRecvError::Empty) => {
                assert!(Instant::now() < deadline, "sealed blocks stopped coming");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(seen, sent, "every transaction once, in the order sent");
    let numbers: Vec<u64> = blocks.iter().map(|b| b.block.header.number).collect();
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap: {numbers:?}"
    );
    assert!(
        blocks.iter().any(|b| b.block.txs.is_empty()),
        "empty blocks too"
    );
    let reader = node.chain().reader().unwrap();
    for b in &blocks {
        let n = b.block.header.number;
        assert_eq!(b.block.hash, b.block.header.hash_slow());
        assert_eq!(
            reader.block(n).unwrap().unwrap().hash,
            b.block.hash,
            "block {n}"
        );
        // The block's mini-blocks, from the store, in order.
        let mut minis: Vec<u64> = b
            .block
            .txs
            .iter()
            .map(|t| reader.tx_mini_block(t.tx_hash()).unwrap().unwrap().0)
            .collect();
        minis.dedup();
        let hashes: Vec<B256> = minis
            .iter()
            .map(|m| node.chain().mini_block(*m).unwrap().unwrap().hash)
            .collect();
        assert_eq!(b.mini_blocks, hashes, "block {n}'s mini-blocks");
    }
}

//! Crash recovery through the write-ahead log, in process.
//!
//! A "crash image" is taken by copying the data directory of a running node whose block
//! time is so long that nothing after genesis was sealed: redb holds only the checkpoint
//! (genesis) and every mini-block lives only in the log, as after a SIGKILL (one test
//! seals many blocks, checkpointing every few). Starting a
//! node on the copy must replay them bit-identically. (`tests/tests/e2e/crash.rs` kills
//! the real binary with SIGKILL under websocket load.)

use crate::node::{BOB, CHAIN_ID, ETH, genesis, signer, transfer};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::Encodable2718;
use alloy_primitives::{B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use peregrine_sequencer::{
    Node, NodeError, SequencerConfig, WalError,
    node::{DB_FILE, WAL_DIR},
    record::MiniBlockRecord,
    ring::{DEFAULT_PARK_TIMEOUT, WaitStrategy},
    store::Store,
    testing::copy_dir,
    wal::{WalBackend, segment},
};
use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

fn config(dir: &Path, backend: WalBackend) -> SequencerConfig {
    let mut cfg = SequencerConfig::new(dir.to_path_buf());
    // Nothing is sealed while the test runs: the log alone holds the mini-blocks.
    cfg.block_time = Duration::from_secs(3600);
    cfg.wal.backend = backend;
    if backend == WalBackend::Plain {
        // The plain-writer runs also take the log thread's blocking wait path (the
        // default, `yield`, polls while traffic flows).
        cfg.wal.wait = WaitStrategy::Park(DEFAULT_PARK_TIMEOUT);
        // And each record is a write of its own (a flush of several records splits).
        cfg.wal.max_write = 1;
    }
    cfg
}

/// A contract creation whose init code emits one log (LOG0) and deploys nothing.
fn create_with_log(signer: &PrivateKeySigner, nonce: u64) -> Vec<u8> {
    contract_tx(
        signer,
        nonce,
        TxKind::Create,
        &[0x60, 0x00, 0x60, 0x00, 0xa0, 0x00],
    )
}

/// A contract creation or call with 100 000 gas.
fn contract_tx(signer: &PrivateKeySigner, nonce: u64, to: TxKind, input: &[u8]) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 0,
        to,
        value: U256::ZERO,
        access_list: Default::default(),
        input: Bytes::copy_from_slice(input),
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
}

/// Init code deploying `NUMBER 1 SWAP1 SUB BLOCKHASH 0 SSTORE STOP`: each call stores
/// the hash of the previous block (which the loop may have to wait for) in slot 0.
const BLOCKHASH_CONTRACT: [u8; 21] = [
    0x69, 0x43, 0x60, 0x01, 0x90, 0x03, 0x40, 0x60, 0x00, 0x55, 0x00, // PUSH10 runtime
    0x60, 0x00, 0x52, // MSTORE at 0 (right-aligned: bytes 22..32)
    0x60, 0x0a, 0x60, 0x16, 0xf3, // RETURN 10 bytes from 22
    0x00, 0x00,
];

/// Submits a mix of transfers and log-emitting creations from four senders, fast enough
/// that several land in one mini-block; returns their hashes.
fn load(node: &Node, per_sender: u64) -> Vec<B256> {
    load_paced(node, per_sender, Duration::ZERO)
}

/// [`load`] with a pause after each round of four. Each round is decoded (senders
/// recovered) first and then pushed back to back, faster than the loop executes, so
/// mini-blocks of several transactions form.
fn load_paced(node: &Node, per_sender: u64, pause: Duration) -> Vec<B256> {
    let senders: Vec<_> = (0..4).map(signer).collect();
    let mut hashes = Vec::new();
    for nonce in 0..per_sender {
        std::thread::sleep(pause);
        let round: Vec<_> = senders
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let raw = if (nonce + i as u64).is_multiple_of(5) {
                    create_with_log(s, nonce)
                } else {
                    transfer(s, nonce, BOB, ETH / 1000)
                };
                node.ingress().decode(&raw).unwrap()
            })
            .collect();
        for tx in round {
            hashes.push(node.ingress().submit_decoded(tx).unwrap());
        }
    }
    hashes
}

/// Waits (bounded) until every hash is preconfirmed; returns all mini-block records.
fn preconfirmed(node: &Node, hashes: &[B256]) -> Vec<Arc<MiniBlockRecord>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    for hash in hashes {
        while node.chain().preconfirmed(hash).unwrap().is_none() {
            assert!(Instant::now() < deadline, "{hash} was not preconfirmed");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Every published mini-block (the pending view may apply the last ones a moment later).
    let next = node.chain().feed.next_number();
    (0..next)
        .map(|n| {
            node.chain()
                .mini_block(n)
                .unwrap()
                .expect("mini-block exists")
        })
        .collect()
}

/// Everything of a record that replay must reproduce: all of it, the signing time too.
fn assert_same(before: &MiniBlockRecord, after: &MiniBlockRecord) {
    assert_eq!(
        before.signed,
        after.signed,
        "signing time of {}",
        before.number()
    );
    assert_eq!(before.header, after.header, "header of {}", before.number());
    assert_eq!(
        before.signature,
        after.signature,
        "signature of {}",
        before.number()
    );
    assert_eq!(before.hash, after.hash);
    assert_eq!(before.transactions, after.transactions);
    assert_eq!(before.state_diff, after.state_diff);
}

/// Runs load on a node, takes a crash image, and returns (records, the image's dir, the
/// original node, its temp dirs).
fn crash_image(
    backend: WalBackend,
) -> (
    Vec<Arc<MiniBlockRecord>>,
    Node,
    tempfile::TempDir,
    tempfile::TempDir,
) {
    let live = tempfile::tempdir().unwrap();
    let node = Node::start(config(live.path(), backend), &genesis()).unwrap();
    let hashes = load(&node, 25);
    let records = preconfirmed(&node, &hashes);
    assert!(records.len() > 1, "several mini-blocks");
    assert!(
        records.iter().any(|r| r.transactions.len() > 1),
        "some mini-block holds several transactions"
    );
    let image = tempfile::tempdir().unwrap();
    copy_dir(live.path(), image.path()).unwrap();
    (records, node, live, image)
}

fn replay_is_bit_identical(backend: WalBackend) {
    let (records, node, _live, image) = crash_image(backend);
    let recovered = Node::start(config(image.path(), backend), &genesis()).unwrap();
    // Every mini-block is back, identical, before `start` returned.
    assert_eq!(
        recovered.chain().applied_next_mini_block(),
        records.len() as u64
    );
    for before in &records {
        let after = recovered
            .chain()
            .mini_block(before.number())
            .unwrap()
            .unwrap();
        assert_same(before, &after);
    }
    // The pending state is the same, and both seal the same block (same state root,
    // receipts root, hash) when they stop.
    let state = |n: &Node| {
        n.chain()
            .pending
            .read()
            .state
            .account(&BOB)
            .map(|a| a.balance)
    };
    assert_eq!(state(&node), state(&recovered));
    assert!(state(&node).unwrap() > U256::from(10_000 * ETH));
    let (a, b) = (node.chain().clone(), recovered.chain().clone());
    node.shutdown().unwrap();
    recovered.shutdown().unwrap();
    assert_eq!(a.head().header.number, 1);
    assert_eq!(
        a.head().hash,
        b.head().hash,
        "the sealed blocks are identical"
    );
    assert_eq!(a.head().header.state_root, b.head().header.state_root);
}

#[test]
fn replay_after_a_crash_is_bit_identical_with_io_uring() {
    replay_is_bit_identical(WalBackend::IoUring);
}

#[test]
fn replay_after_a_crash_is_bit_identical_with_the_plain_writer() {
    replay_is_bit_identical(WalBackend::Plain);
}

#[test]
fn a_torn_tail_is_cut_and_everything_before_it_replayed() {
    let (records, node, _live, image) = crash_image(WalBackend::Auto);
    node.shutdown().unwrap();
    let wal = image.path().join(WAL_DIR);
    let segments = segment::list(&wal).unwrap();
    let (_, last) = segments.last().unwrap();
    let mut data = std::fs::read(last).unwrap();
    let len = data.len();
    // Half a record header, as a write cut short by the crash leaves.
    data.extend_from_slice(&b"PWL1\x40\x00"[..]);
    std::fs::write(last, &data).unwrap();
    let recovered = Node::start(config(image.path(), WalBackend::Auto), &genesis()).unwrap();
    assert_eq!(
        std::fs::metadata(last).unwrap().len(),
        len as u64,
        "tail cut"
    );
    for before in &records {
        assert_same(
            before,
            &recovered
                .chain()
                .mini_block(before.number())
                .unwrap()
                .unwrap(),
        );
    }
    // The chain goes on from there.
    let alice = signer(5);
    let hash = recovered
        .ingress()
        .submit(&transfer(&alice, 0, BOB, 1))
        .unwrap();
    let next = preconfirmed(&recovered, &[hash]);
    assert_eq!(next.len(), records.len() + 1);
    assert_eq!(
        next.last().unwrap().header.parent_hash,
        records.last().unwrap().hash
    );
    recovered.shutdown().unwrap();
}

/// A crash image (its node stopped), the path of its first log segment and its bytes.
fn image_with_first_segment() -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
    let (_records, node, _live, image) = crash_image(WalBackend::Auto);
    node.shutdown().unwrap();
    let (_, first) = segment::list(&image.path().join(WAL_DIR))
        .unwrap()
        .remove(0);
    let data = std::fs::read(&first).unwrap();
    (image, first, data)
}

#[test]
fn corruption_in_the_middle_of_the_log_stops_start_up() {
    let (image, first, mut data) = image_with_first_segment();
    // A bit flipped inside the first record's payload; valid records follow.
    data[40] ^= 0x10;
    std::fs::write(&first, &data).unwrap();
    match Node::start(config(image.path(), WalBackend::Auto), &genesis()) {
        Err(NodeError::Wal(WalError::Corrupt { offset, reason, .. })) => {
            assert_eq!(offset, 0);
            assert!(reason.contains("checksum"), "{reason}");
        }
        Err(other) => panic!("expected a corruption error, got {other}"),
        Ok(_) => panic!("a corrupt log must stop start-up"),
    }
}

/// Blocks are committed to redb without a sync, and made durable every
/// `checkpoint_blocks`: a crash image taken between two seals holds only the last
/// checkpoint in redb. The node started on it replays the blocks after it from the log
/// and ends with the same blocks, hash for hash.
#[test]
fn blocks_after_the_last_checkpoint_are_replayed_after_a_crash() {
    let config = |dir: &Path| {
        let mut cfg = config(dir, WalBackend::Auto);
        cfg.block_time = Duration::from_millis(100);
        cfg.checkpoint_blocks = 4;
        cfg
    };
    let live = tempfile::tempdir().unwrap();
    let node = Node::start(config(live.path()), &genesis()).unwrap();
    let hashes = load_paced(&node, 60, Duration::from_millis(25));
    preconfirmed(&node, &hashes);
    // Copy between two seals, as `copy_dir` needs: just after the head moves, plus time
    // for the checkpoint that may follow that seal, well before the next one.
    let head = node.chain().head().header.number;
    while node.chain().head().header.number == head {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(30));
    let sealed = node.chain().head().header.number;
    assert!(sealed > 8, "the load spans many blocks, got {sealed}");
    let image = tempfile::tempdir().unwrap();
    copy_dir(live.path(), image.path()).unwrap();
    // Blocks keep sealing while the files are copied.
    let sealed_after_copy = node.chain().head().header.number;
    // What redb holds after the crash: the last checkpoint, a multiple of 4 blocks.
    let durable = Store::open(&image.path().join(DB_FILE))
        .unwrap()
        .reader()
        .unwrap()
        .head()
        .unwrap()
        .expect("a head");
    assert!(
        durable >= 4 && durable.is_multiple_of(4) && durable <= sealed_after_copy,
        "checkpoints every 4 blocks: {durable}, {sealed}..={sealed_after_copy} sealed"
    );

    let recovered = Node::start(config(image.path()), &genesis()).unwrap();
    let replayed = recovered.replay_stats().blocks;
    assert!(
        replayed >= sealed.saturating_sub(durable),
        "the blocks after the checkpoint are replayed: {replayed}, {durable} durable of {sealed}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    // Past `sealed`: the last transactions may have been in the block then open.
    while recovered.chain().head().header.number <= sealed {
        assert!(Instant::now() < deadline, "replayed blocks were not sealed");
        std::thread::sleep(Duration::from_millis(5));
    }
    let header = |n: &Node, number: u64| {
        n.chain()
            .reader()
            .unwrap()
            .header(number)
            .unwrap()
            .unwrap_or_else(|| panic!("block {number} is stored"))
            .hash_slow()
    };
    for number in 1..=sealed {
        assert_eq!(
            header(&node, number),
            header(&recovered, number),
            "block {number}"
        );
    }
    for hash in &hashes {
        assert!(
            recovered
                .chain()
                .reader()
                .unwrap()
                .tx_location(hash)
                .unwrap()
                .is_some(),
            "{hash} is in a sealed block"
        );
    }
    node.shutdown().unwrap();
    recovered.shutdown().unwrap();
}

#[test]
fn a_clean_shutdown_checkpoints_and_old_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), WalBackend::Auto);
    cfg.block_time = Duration::from_millis(50);
    // Tiny segments, so the load below spans many of them.
    cfg.wal.segment_size = 4096;
    let node = Node::start(cfg.clone(), &genesis()).unwrap();
    // Paced over many 50 ms blocks, so checkpoints advance while segments fill.
    let hashes = load_paced(&node, 40, Duration::from_millis(15));
    preconfirmed(&node, &hashes);
    let wal = dir.path().join(WAL_DIR);
    let during = segment::list(&wal).unwrap();
    node.shutdown().unwrap();
    // Segments were rolled and the covered ones deleted while it ran: far fewer remain
    // than were written (the highest index says how many were written).
    let written = during.last().unwrap().0;
    assert!(written > 5, "load spans several segments, got {written}");
    assert!(
        during.len() < written as usize,
        "covered segments were deleted while running ({} of {written} remain)",
        during.len()
    );
    // After a clean stop everything is checkpointed: restarting replays nothing and
    // deletes all but the segment it continues.
    let node = Node::start(cfg, &genesis()).unwrap();
    assert_eq!(segment::list(&wal).unwrap().len(), 1);
    for hash in &hashes {
        assert!(
            node.chain()
                .reader()
                .unwrap()
                .tx_location(hash)
                .unwrap()
                .is_some()
        );
    }
    node.shutdown().unwrap();
}

#[test]
fn a_replay_that_comes_out_different_stops_start_up() {
    let (image, first, mut data) = image_with_first_segment();
    // Change the signed header hash the first record holds (payload bytes 33..65: kind,
    // number, first sequence, closed, signed, then the hash) and re-seal the checksum, as
    // if the live run had produced another header than replay does.
    let len = u32::from_le_bytes(data[4..8].try_into().unwrap()) as usize;
    data[12 + 33] ^= 0xff;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&data[4..8]), &data[12..12 + len]);
    data[8..12].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&first, &data).unwrap();
    match Node::start(config(image.path(), WalBackend::Auto), &genesis()) {
        Err(NodeError::Wal(WalError::Replay(why))) => {
            assert!(why.contains("replay diverged: mini-block 0"), "{why}")
        }
        Err(other) => panic!("expected a replay error, got {other}"),
        Ok(_) => panic!("a diverging replay must stop start-up"),
    }
}

/// Replay repeats every kind of block end the live run made: blocks closed early because
/// the next transaction did not fit, blocks closed by the clock, empty blocks; and
/// `BLOCKHASH` answers, which wait for the chain service to seal the previous block.
/// The image pairs the redb of the start with the log of the whole run (redb lagging
/// behind the log, as after a crash before the chain service committed), so all of it is
/// replayed, sealing included.
#[test]
fn replay_repeats_early_and_empty_blocks_and_blockhash() {
    let live = tempfile::tempdir().unwrap();
    let mut cfg = config(live.path(), WalBackend::Auto);
    cfg.block_time = Duration::from_millis(100);
    // Room for four transfers, or one contract call and a transfer or two.
    cfg.block_gas_limit = 100_000;
    let start = tempfile::tempdir().unwrap();
    Node::start(cfg.clone(), &genesis())
        .unwrap()
        .shutdown()
        .unwrap();
    std::fs::copy(
        live.path().join(peregrine_sequencer::node::DB_FILE),
        start.path().join(peregrine_sequencer::node::DB_FILE),
    )
    .unwrap();
    let node = Node::start(cfg.clone(), &genesis()).unwrap();
    let deployer = signer(6);
    let contract = deployer.address().create(0);
    let mut hashes = vec![
        node.ingress()
            .submit(&contract_tx(
                &deployer,
                0,
                TxKind::Create,
                &BLOCKHASH_CONTRACT,
            ))
            .unwrap(),
    ];
    let senders: Vec<_> = (0..3).map(signer).collect();
    for round in 0..6u64 {
        // A burst that spans several gas-full blocks, then a pause of empty blocks.
        hashes.push(
            node.ingress()
                .submit(&contract_tx(
                    &deployer,
                    round + 1,
                    TxKind::Call(contract),
                    &[],
                ))
                .unwrap(),
        );
        for s in &senders {
            for k in 0..2 {
                hashes.push(
                    node.ingress()
                        .submit(&transfer(s, round * 2 + k, BOB, 1))
                        .unwrap(),
                );
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let records = preconfirmed(&node, &hashes);
    let blocks = records.last().unwrap().block_number();
    assert!(blocks > 12, "bursts spread over many blocks, got {blocks}");
    let slot = |n: &Node| {
        n.chain()
            .pending
            .read()
            .state
            .storage(&contract, &U256::ZERO)
    };
    assert_ne!(slot(&node), U256::ZERO, "BLOCKHASH answered a real hash");
    // The crash image: redb from the start, the log of the whole run.
    let image = tempfile::tempdir().unwrap();
    copy_dir(&live.path().join(WAL_DIR), &image.path().join(WAL_DIR)).unwrap();
    std::fs::copy(
        start.path().join(peregrine_sequencer::node::DB_FILE),
        image.path().join(peregrine_sequencer::node::DB_FILE),
    )
    .unwrap();
    let sealed_live = node.chain().head().header.number;
    let mut image_cfg = cfg.clone();
    image_cfg.datadir = image.path().to_path_buf();
    let recovered = Node::start(image_cfg, &genesis()).unwrap();
    let stats = recovered.replay_stats();
    // Everything after the start was replayed: every block end, every mini-block.
    assert!(
        stats.blocks + 2 >= blocks && stats.blocks + 1 >= sealed_live,
        "{stats:?}"
    );
    assert_eq!(stats.mini_blocks, records.len() as u64, "{stats:?}");
    for before in &records {
        let after = recovered
            .chain()
            .mini_block(before.number())
            .unwrap()
            .unwrap();
        assert_same(before, &after);
    }
    assert_eq!(slot(&node), slot(&recovered));
    // Every block both have sealed is the same block.
    let (a, b) = (node.chain().clone(), recovered.chain().clone());
    let common = a.head().header.number.min(b.head().header.number);
    assert!(common >= blocks.saturating_sub(1), "{common} of {blocks}");
    let (ra, rb) = (a.reader().unwrap(), b.reader().unwrap());
    for n in 1..=common {
        assert_eq!(
            ra.header(n).unwrap().unwrap().hash_slow(),
            rb.header(n).unwrap().unwrap().hash_slow(),
            "block {n}"
        );
    }
    drop((ra, rb));
    node.shutdown().unwrap();
    recovered.shutdown().unwrap();
}

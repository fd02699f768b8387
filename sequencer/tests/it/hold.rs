//! Mini-blocks held open while the log thread is still busy with the ones before it
//! (`SequencerConfig::max_mini_block_hold`, `SequencerLoop::with_log_progress`). Here no
//! log thread ever publishes, so after the first mini-block the loop always sees it
//! behind.

use alloy_primitives::{Address, U256, address};
use peregrine_sequencer::{
    PendingTx, SequencerConfig,
    block::ChainEvent,
    feed::Feed,
    genesis::{GenesisSpec, dev_mnemonic_signers},
    ring,
    testing::{loop_until, transfer},
};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

const BOB: Address = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");

/// What the client thread holds: the ring's producer, the loop's output, its "parking"
/// flag (as the log thread would read it) and its stop flag.
struct Client {
    producer: ring::Producer<PendingTx>,
    received: crossbeam_channel::Receiver<ChainEvent>,
    signer: alloy_signer_local::PrivateKeySigner,
    chain_id: u64,
    parking: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Client {
    /// Pushes transfer `nonce` of 1 wei to Bob.
    fn push(&self, nonce: u64) {
        let tx = transfer(&self.signer, self.chain_id, nonce, BOB, U256::from(1));
        self.producer
            .try_push(PendingTx::new(tx, self.signer.address(), 0))
            .unwrap();
    }

    /// The next mini-block's size.
    fn next_mini_block(&self) -> usize {
        loop {
            match self
                .received
                .recv_timeout(Duration::from_secs(30))
                .expect("a mini-block")
            {
                ChainEvent::MiniBlock(mini) => return mini.txs.len(),
                _ => continue,
            }
        }
    }
}

/// A loop with `hold` whose log thread never publishes, the client's ends of it, and its
/// data directory.
fn rig(
    hold: Duration,
) -> (
    peregrine_sequencer::sequencer_loop::SequencerLoop,
    Client,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SequencerConfig::new(dir.path().to_path_buf());
    cfg.max_mini_block_hold = hold;
    // A block end closes the open mini-block too: none during the test.
    cfg.block_time = Duration::from_secs(60);
    assert_eq!(cfg.wait_strategy, ring::WaitStrategy::Yield);
    let signer = dev_mnemonic_signers().remove(0);
    let genesis = GenesisSpec::dev(0, U256::from(10u64).pow(U256::from(24)));
    let chain_id = cfg.chain_id;
    let (producer, consumer) = ring::channel(cfg.ring_capacity).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (looper, received) = loop_until(cfg, genesis.state(), consumer, stop.clone());
    // Nothing is ever published: announced stays at mini-block 0.
    let feed = Arc::new(Feed::new(Address::ZERO, 16, 16, 0));
    let parking = Arc::new(AtomicBool::new(false));
    let looper = looper.with_log_progress(feed, parking.clone());
    let client = Client {
        producer,
        received,
        signer,
        chain_id,
        parking,
        stop,
    };
    (looper, client, dir)
}

/// Runs a loop with `hold`, pushes transfers 0..=`n` (each after the previous one's
/// mini-block came out when `wait_each`, else 20 ms apart, 50 ms without a hold), and returns the
/// mini-blocks' sizes and whether the loop said it was holding while the later ones
/// waited.
fn run(hold: Duration, n: u64, wait_each: bool) -> (Vec<usize>, bool) {
    let (looper, client, _dir) = rig(hold);
    // The loop is not `Send` (revm): it runs here, the client on another thread.
    let client = std::thread::spawn(move || {
        // Mini-block 0: the log thread has published everything before it (nothing).
        client.push(0);
        let mut sizes = vec![client.next_mini_block()];
        let mut saw_holding = false;
        if wait_each {
            for nonce in 1..=n {
                client.push(nonce);
                sizes.push(client.next_mini_block());
                saw_holding |= client.parking.load(Ordering::Relaxed);
            }
        } else {
            for nonce in 1..=n {
                client.push(nonce);
                std::thread::sleep(Duration::from_millis(if hold.is_zero() { 50 } else { 20 }));
                saw_holding |= client.parking.load(Ordering::Relaxed);
            }
            let mut got = 0;
            while got < n as usize {
                let size = client.next_mini_block();
                got += size;
                sizes.push(size);
            }
        }
        client.stop.store(true, Ordering::Release);
        (sizes, saw_holding)
    });
    looper.run();
    client.join().unwrap()
}

#[test]
fn a_mini_block_is_held_while_the_log_thread_is_behind() {
    // Five transfers 20 ms apart, with the log thread "behind" all along: one mini-block,
    // closed when the hold runs out, not five.
    let started = Instant::now();
    let (sizes, saw_holding) = run(Duration::from_secs(3), 5, false);
    assert_eq!(sizes, vec![1, 5], "held into one mini-block");
    assert!(saw_holding, "the log thread is told the loop holds");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "released by the hold's end, no sooner"
    );
}

#[test]
fn no_hold_closes_each_mini_block_at_once() {
    // With a zero hold, each transfer's mini-block comes out on its own, although the
    // log thread is "behind" all along, and the log thread is never told to park.
    let (sizes, saw_holding) = run(Duration::ZERO, 4, true);
    assert_eq!(sizes, vec![1, 1, 1, 1, 1]);
    assert!(!saw_holding);
    // Transfers 50 ms apart, not waited for: still one mini-block each.
    let (sizes, saw_holding) = run(Duration::ZERO, 4, false);
    assert_eq!(sizes, vec![1, 1, 1, 1, 1]);
    assert!(!saw_holding);
}

#[test]
fn a_busy_loop_parks_and_tells_the_log_thread_until_mini_blocks_shrink() {
    // No hold: only the size of recent mini-blocks decides. 64 transfers queued before the
    // loop starts come out as large mini-blocks, after which the idle loop parks (and says
    // so); single-transfer mini-blocks then bring it back to yielding.
    let (looper, client, _dir) = rig(Duration::ZERO);
    const BURST: u64 = 64;
    for nonce in 0..BURST {
        client.push(nonce);
    }
    let client = std::thread::spawn(move || {
        let mut got = 0;
        let mut sizes = Vec::new();
        while got < BURST as usize {
            let size = client.next_mini_block();
            got += size;
            sizes.push(size);
        }
        let until_parking = |want: bool| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while client.parking.load(Ordering::Relaxed) != want {
                assert!(Instant::now() < deadline, "parking never became {want}");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        until_parking(true);
        // Eight single-transfer mini-blocks: the average drops below the threshold.
        for nonce in BURST..BURST + 8 {
            client.push(nonce);
            assert_eq!(client.next_mini_block(), 1, "no hold: each closes at once");
        }
        until_parking(false);
        client.stop.store(true, Ordering::Release);
        sizes
    });
    looper.run();
    let sizes = client.join().unwrap();
    assert!(
        sizes.iter().any(|&n| n >= 16),
        "the queued burst made large mini-blocks: {sizes:?}"
    );
}

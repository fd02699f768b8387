use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, address};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use peregrine_sequencer::{
    GenesisSpec, IngressError, Node, SequencerConfig, TxStatus, genesis::dev_mnemonic_signers,
};
use std::time::{Duration, Instant};

pub(crate) const CHAIN_ID: u64 = 901;
pub(crate) const ETH: u128 = 1_000_000_000_000_000_000;
pub(crate) const BOB: Address = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");

pub(crate) fn config(dir: &std::path::Path) -> SequencerConfig {
    let mut cfg = SequencerConfig::new(dir.to_path_buf());
    cfg.block_time = Duration::from_millis(50);
    cfg
}

pub(crate) fn genesis() -> GenesisSpec {
    GenesisSpec::dev(0, U256::from(10_000 * ETH))
}

pub(crate) fn signer(i: usize) -> PrivateKeySigner {
    dev_mnemonic_signers().remove(i)
}

pub(crate) fn transfer(signer: &PrivateKeySigner, nonce: u64, to: Address, value: u128) -> Vec<u8> {
    transfer_on(signer, CHAIN_ID, nonce, to, value, 1_000_000_000)
}

pub(crate) fn transfer_on(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    to: Address,
    value: u128,
    max_fee: u128,
) -> Vec<u8> {
    eip1559(
        signer,
        chain_id,
        nonce,
        21_000,
        (max_fee, 0),
        to,
        U256::from(value),
    )
}

/// An EIP-1559 transaction with every field that matters to ingress; `fees` is (fee cap,
/// tip).
pub(crate) fn eip1559(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
    gas_limit: u64,
    (max_fee_per_gas, max_priority_fee_per_gas): (u128, u128),
    to: Address,
    value: U256,
) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit,
        max_fee_per_gas,
        max_priority_fee_per_gas,
        to: TxKind::Call(to),
        value,
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
}

/// Waits (bounded) until `hash` is in a sealed block; returns (block, index).
pub(crate) fn wait_included(node: &Node, hash: B256) -> (u64, u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(loc) = node.chain().reader().unwrap().tx_location(&hash).unwrap() {
            return loc;
        }
        assert!(
            Instant::now() < deadline,
            "transaction {hash} was not included within 10s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub(crate) fn balance(node: &Node, a: &Address) -> U256 {
    node.chain()
        .reader()
        .unwrap()
        .account(a)
        .unwrap()
        .map_or(U256::ZERO, |a| a.1)
}

#[test]
fn transfer_is_executed_sealed_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(dir.path()), &genesis()).unwrap();
    let alice = signer(0);
    let hash = node
        .ingress()
        .submit(&transfer(&alice, 0, BOB, ETH))
        .unwrap();
    let (number, index) = wait_included(&node, hash);
    assert_eq!(index, 0);
    let reader = node.chain().reader().unwrap();
    let block = reader.block(number).unwrap().unwrap();
    assert_eq!(block.txs.len(), 1);
    assert_eq!(block.senders, vec![alice.address()]);
    assert!(block.receipts[0].status());
    let fee = U256::from(21_000u64) * U256::from(block.header.base_fee_per_gas.unwrap());
    assert_eq!(balance(&node, &BOB), U256::from(10_001 * ETH));
    assert_eq!(
        balance(&node, &alice.address()),
        U256::from(9_999 * ETH) - fee
    );
    // The stored state root is the root of the stored state.
    let mut state = reader.load_state().unwrap();
    assert_eq!(
        state.state_root(),
        reader
            .header(reader.head().unwrap().unwrap())
            .unwrap()
            .unwrap()
            .state_root
    );
    // Parent links hold.
    let parent = reader.header(number - 1).unwrap().unwrap();
    assert_eq!(block.header.parent_hash, parent.hash_slow());
    node.shutdown().unwrap();
}

#[test]
fn nonce_gap_is_held_then_released_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(dir.path()), &genesis()).unwrap();
    let alice = signer(1);
    let later = node.ingress().submit(&transfer(&alice, 1, BOB, 2)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(matches!(
        node.chain().tx_status(&later),
        Some(TxStatus::Queued { missing_nonce: 0 })
    ));
    let first = node.ingress().submit(&transfer(&alice, 0, BOB, 1)).unwrap();
    let a = wait_included(&node, first);
    let b = wait_included(&node, later);
    assert!(a < b, "nonce 0 at {a:?} must come before nonce 1 at {b:?}");
    node.shutdown().unwrap();
}

#[test]
fn pending_nonce_counts_transactions_still_in_the_ring() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(dir.path()), &genesis()).unwrap();
    let alice = signer(3);
    let chain = node.chain();
    for nonce in 0..300 {
        node.ingress()
            .submit(&transfer(&alice, nonce, BOB, 1))
            .unwrap();
        // At once, as a wallet asks before its next send (geth counts its pool).
        assert_eq!(
            chain.pending_nonce(&alice.address()),
            nonce + 1,
            "right after nonce {nonce} was accepted"
        );
    }
    // A transaction held for a nonce gap is not counted, and is not waited for long.
    let held = node
        .ingress()
        .submit(&transfer(&alice, 301, BOB, 1))
        .unwrap();
    assert_eq!(chain.pending_nonce(&alice.address()), 300);
    assert!(matches!(
        chain.tx_status(&held),
        Some(TxStatus::Queued { missing_nonce: 300 })
    ));
    assert_eq!(chain.pending_nonce(&signer(4).address()), 0);
    node.shutdown().unwrap();
}

#[test]
fn nonce_gap_expires_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.nonce_hold = Duration::from_millis(100);
    let node = Node::start(cfg, &genesis()).unwrap();
    let hash = node
        .ingress()
        .submit(&transfer(&signer(2), 5, BOB, 1))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(TxStatus::Dropped { reason }) = node.chain().tx_status(&hash) {
            assert!(reason.contains("nonce gap"), "{reason}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "gapped transaction was never dropped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    node.shutdown().unwrap();
}

#[test]
fn restart_continues_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    let alice = signer(3);
    let (head, root) = {
        let node = Node::start(config(dir.path()), &genesis()).unwrap();
        let hash = node
            .ingress()
            .submit(&transfer(&alice, 0, BOB, ETH))
            .unwrap();
        // Submitted and immediately shut down: SIGTERM-style shutdown must not lose it.
        let second = node
            .ingress()
            .submit(&transfer(&alice, 1, BOB, ETH))
            .unwrap();
        let chain = node.chain().clone();
        node.shutdown().unwrap();
        let reader = chain.reader().unwrap();
        assert!(reader.tx_location(&hash).unwrap().is_some());
        assert!(reader.tx_location(&second).unwrap().is_some());
        let head = chain.head();
        (head.header.number, head.header.state_root)
    };
    let node = Node::start(config(dir.path()), &genesis()).unwrap();
    assert_eq!(node.chain().head().header.number, head);
    assert_eq!(node.chain().head().header.state_root, root);
    assert_eq!(balance(&node, &BOB), U256::from(10_002 * ETH));
    let hash = node
        .ingress()
        .submit(&transfer(&alice, 2, BOB, ETH))
        .unwrap();
    let (number, _) = wait_included(&node, hash);
    assert!(number > head);
    node.shutdown().unwrap();
}

#[test]
fn ingress_rejects_bad_transactions_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(config(dir.path()), &genesis()).unwrap();
    let ingress = node.ingress();
    let alice = signer(4);
    let poor = PrivateKeySigner::random();

    assert!(matches!(ingress.submit(&[]), Err(IngressError::Decode(_))));
    assert!(matches!(
        ingress.submit(&[0x02, 0xf8, 0x01]),
        Err(IngressError::Decode(_))
    ));
    // A hash we return is keccak of the bytes received, and the block stores the
    // transaction re-encoded: only a decoder that refuses every non-canonical encoding
    // keeps the two equal. A signature's y-parity of 0 written 0x00 instead of 0x80 (the
    // same length, so the hash would cover the altered bytes) is refused.
    let (value, raw) = (1..64u128)
        .map(|v| (v, transfer(&alice, 0, BOB, v)))
        // ... 0x80 (y-parity 0), 0xa0 ‖ r (32 bytes), 0xa0 ‖ s (32 bytes): the end.
        .find(|(_, raw)| {
            let n = raw.len();
            raw[n - 67] == 0x80 && raw[n - 66] == 0xa0 && raw[n - 33] == 0xa0
        })
        .expect("a y-parity of 0 within 63 signatures");
    let mut altered = raw.clone();
    let at = altered.len() - 67;
    altered[at] = 0x00;
    assert!(
        matches!(ingress.submit(&altered), Err(IngressError::Decode(_))),
        "a y-parity written 0x00 was accepted (value {value})"
    );
    let wrong_chain = transfer_on(&alice, 1, 0, BOB, 1, 1_000_000_000);
    assert!(matches!(
        ingress.submit(&wrong_chain),
        Err(IngressError::WrongChainId {
            expected: 901,
            got: 1
        })
    ));
    assert!(matches!(
        ingress.submit(&transfer(&poor, 0, BOB, 1)),
        Err(IngressError::InsufficientFunds { .. })
    ));
    let cheap = transfer_on(&alice, CHAIN_ID, 0, BOB, 1, 1);
    assert!(matches!(
        ingress.submit(&cheap),
        Err(IngressError::FeeCapTooLow { .. })
    ));
    let hash = ingress.submit(&transfer(&alice, 0, BOB, 1)).unwrap();
    assert_eq!(
        ingress.submit(&transfer(&alice, 0, BOB, 1)),
        Err(IngressError::AlreadyKnown(hash))
    );
    wait_included(&node, hash);
    // Once included, the same bytes are "nonce too low" (as geth answers a mined
    // transaction): the pending nonce covers everything stored, so ingress needs no
    // store lookup by hash.
    assert_eq!(
        ingress.submit(&transfer(&alice, 0, BOB, 1)),
        Err(IngressError::NonceTooLow { next: 1, nonce: 0 })
    );
    assert!(matches!(
        ingress.submit(&transfer(&alice, 0, BOB, 7)),
        Err(IngressError::NonceTooLow { next: 1, nonce: 0 })
    ));
    // Pre-EIP-155 legacy transaction.
    let legacy = TxLegacy {
        chain_id: None,
        nonce: 1,
        gas_price: 1_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(BOB),
        value: U256::from(1),
        input: Bytes::new(),
    };
    let sig = alice.sign_hash_sync(&legacy.signature_hash()).unwrap();
    let raw = TxEnvelope::from(legacy.into_signed(sig)).encoded_2718();
    assert_eq!(ingress.submit(&raw), Err(IngressError::NotReplayProtected));
    // Intrinsic gas.
    let low = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 1,
        gas_limit: 20_000,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(BOB),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = alice.sign_hash_sync(&low.signature_hash()).unwrap();
    let raw = TxEnvelope::from(low.into_signed(sig)).encoded_2718();
    assert!(matches!(
        ingress.submit(&raw),
        Err(IngressError::IntrinsicGas {
            gas: 20_000,
            needed: 21_000
        })
    ));
    // Oversized.
    let big = vec![0u8; 200 * 1024];
    assert!(matches!(
        ingress.submit(&big),
        Err(IngressError::Oversized { .. })
    ));
    node.shutdown().unwrap();
}

/// Mini-blocks that have left the in-memory window but whose block is not sealed yet are
/// still served (from the open block): by number, for `fromMiniBlock` replays, and by
/// transaction hash, for `preconf_getPreconfirmation`.
#[test]
fn unsealed_mini_blocks_outside_the_recent_window_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.block_time = Duration::from_secs(3600);
    cfg.recent_mini_blocks = 4;
    let node = Node::start(cfg, &genesis()).unwrap();
    let alice = signer(0);
    let mut seen = Vec::new();
    for nonce in 0..12 {
        let hash = node
            .ingress()
            .submit(&transfer(&alice, nonce, BOB, 1))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let (record, index) = loop {
            if let Some(found) = node.chain().preconfirmed(&hash).unwrap() {
                break found;
            }
            assert!(Instant::now() < deadline, "{hash} was not preconfirmed");
            std::thread::sleep(Duration::from_millis(2));
        };
        assert_eq!(record.transactions[index].hash, hash);
        seen.push((hash, record));
    }
    let numbers: Vec<u64> = seen.iter().map(|(_, r)| r.number()).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "one mini-block per transfer: {numbers:?}"
    );
    assert!(
        node.chain().feed.recent(numbers[0]).is_none(),
        "the first mini-block left the window of 4, so the test tests the fallback"
    );
    assert_eq!(
        node.chain().reader().unwrap().head().unwrap(),
        Some(0),
        "nothing sealed"
    );
    for (hash, record) in &seen {
        let by_number = node.chain().mini_block(record.number()).unwrap();
        assert_eq!(
            by_number.as_deref(),
            Some(&**record),
            "mini-block {}",
            record.number()
        );
        let (found, index) = node
            .chain()
            .preconfirmed(hash)
            .unwrap()
            .expect("preconfirmed");
        assert_eq!(
            (found.number(), found.transactions[index].hash),
            (record.number(), *hash)
        );
    }
    node.shutdown().unwrap();
}

/// `/proc/self/task/<tid>` of this process's thread named `name`.
fn thread_dir(name: &str) -> Option<std::path::PathBuf> {
    std::fs::read_dir("/proc/self/task").ok()?.find_map(|task| {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        (comm.trim() == name).then_some(dir)
    })
}

/// The nice value of this process's thread named `name`, from `/proc/self/task/*/stat`.
fn thread_nice(name: &str) -> Option<i32> {
    let stat = std::fs::read_to_string(thread_dir(name)?.join("stat")).ok()?;
    // `pid (comm) state ...`: nice is field 19, the 17th after the comm's ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(16)?.parse().ok()
}

/// `se.slice` (ns) from a thread's `/proc/.../sched`, for the thread named `name`.
fn thread_slice(name: &str) -> Option<u64> {
    let sched = std::fs::read_to_string(thread_dir(name)?.join("sched")).ok()?;
    let line = sched.lines().find(|l| l.starts_with("se.slice"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

/// Whether the running kernel takes custom time slices (Linux 6.12 and later).
fn kernel_has_custom_slices() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (6, 12)
}

/// `chain_service_nice` lowers the priority of the chain service thread (block seals,
/// redb) and of no other: the sequencer loop keeps the process's own. Where the kernel
/// takes custom slices, the chain service's is shortened to 100 µs, and no other thread's.
#[test]
fn chain_service_runs_at_its_configured_nice_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.chain_service_nice = 7;
    let node = Node::start(cfg, &genesis()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let nice = loop {
        match thread_nice("peregrine-chain") {
            Some(7) => break 7,
            other if Instant::now() > deadline => panic!("peregrine-chain nice: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    assert_eq!(nice, 7);
    let own = thread_nice("peregrine-seque").expect("the sequencer loop thread");
    assert_ne!(own, 7, "only the chain service is reniced");
    if kernel_has_custom_slices() {
        let slice = peregrine_sequencer::sched::CHAIN_SERVICE_SLICE.as_nanos() as u64;
        assert_eq!(thread_slice("peregrine-chain"), Some(slice));
        let loop_slice = thread_slice("peregrine-seque").expect("the sequencer loop thread");
        assert_ne!(
            loop_slice, slice,
            "only the chain service's slice is shortened"
        );
    }
    node.shutdown().unwrap();
}

//! The write-ahead log: append latency per durability mode and backend, and replay speed.
//!
//! Run: `cargo bench -p peregrine-sequencer --bench wal` (`-- quick` for fewer samples).
//! Prints p50/p99 append latency for a one-mini-block record (~300 B, low load) and a
//! 64-mini-block group commit (~19 KB, high load) for io_uring and the plain writer in
//! `fsync` and `os` durability; then builds a log of transfers with a real node, takes a
//! crash image (nothing sealed, everything in the log), and times `Node::start` replaying
//! it. Goal for replay: ≥ 200k tx/s. Absolute numbers depend on the disk: compare the rows
//! of one run.

#![allow(missing_docs)]

use alloy_eips::Encodable2718;
use alloy_primitives::{Address, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use peregrine_sequencer::{
    GenesisSpec, IngressError, Node, SequencerConfig,
    genesis::dev_account_key,
    testing::{copy_dir, transfer},
    wal::{Durability, Log, WalBackend, WalConfig, Writer},
};
use std::{
    path::Path,
    time::{Duration, Instant},
};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn append_latency(samples: usize) {
    println!("append latency ({samples} appends each)");
    println!(
        "{:<10} {:<6} {:>9} {:>10} {:>10} {:>10}",
        "backend", "mode", "bytes", "p50 µs", "p99 µs", "mean µs"
    );
    for backend in [WalBackend::IoUring, WalBackend::Plain] {
        for durability in [Durability::Fsync, Durability::Os] {
            for bytes in [300usize, 64 * 300] {
                let dir = tempfile::tempdir().unwrap();
                let cfg = WalConfig {
                    durability,
                    backend,
                    ..WalConfig::default()
                };
                let writer = Writer::new(backend).expect("backend available");
                let mut log = Log::open(dir.path(), cfg, writer, vec![]).unwrap();
                let buf = vec![0xa5u8; bytes];
                let mut times = Vec::with_capacity(samples);
                for _ in 0..samples {
                    let t = Instant::now();
                    log.append(&buf, 1, 0).unwrap();
                    times.push(t.elapsed());
                }
                times.sort();
                let mean = times.iter().sum::<Duration>() / samples as u32;
                println!(
                    "{:<10} {:<6} {:>9} {:>10.1} {:>10.1} {:>10.1}",
                    backend.as_str(),
                    durability.as_str(),
                    bytes,
                    percentile(&times, 0.5).as_secs_f64() * 1e6,
                    percentile(&times, 0.99).as_secs_f64() * 1e6,
                    mean.as_secs_f64() * 1e6
                );
            }
        }
    }
}

/// A 4 KiB block, aligned as O_DIRECT requires.
#[repr(C, align(4096))]
struct Aligned([u8; 4096]);

/// The alternatives to `write` + `fdatasync` the design named: `O_DSYNC` (each write
/// returns once durable) and `O_DIRECT | O_DSYNC` (no page cache; whole aligned blocks,
/// so a 300 B record costs a 4 KiB write).
fn sync_open_flags(samples: usize) {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    println!("\nsynchronous open flags, plain pwrite ({samples} writes each)");
    let block = Aligned([0xa5; 4096]);
    for (name, flags, bytes) in [
        ("O_DSYNC", libc::O_DSYNC, 300usize),
        ("O_DSYNC", libc::O_DSYNC, 4096),
        ("O_DIRECT|O_DSYNC", libc::O_DIRECT | libc::O_DSYNC, 4096),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .custom_flags(flags)
            .open(dir.path().join("seg"))
            .unwrap();
        let mut times = Vec::with_capacity(samples);
        for i in 0..samples {
            let t = Instant::now();
            file.write_all_at(&block.0[..bytes], (i * bytes) as u64)
                .unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{:<18} {:>6} B  p50 {:>7.1} µs  p99 {:>7.1} µs",
            name,
            bytes,
            percentile(&times, 0.5).as_secs_f64() * 1e6,
            percentile(&times, 0.99).as_secs_f64() * 1e6
        );
    }
}

fn replay_speed(senders: u64, per_sender: u64, small: bool) {
    let genesis = GenesisSpec::dev(senders, U256::from(10u128.pow(24)));
    let config = |dir: &Path| {
        let mut cfg = SequencerConfig::new(dir.to_path_buf());
        cfg.block_time = Duration::from_secs(3600);
        cfg.wal.durability = Durability::Os;
        cfg
    };
    let signers: Vec<_> = (0..senders)
        .map(|i| PrivateKeySigner::from_bytes(&dev_account_key(i)).unwrap())
        .collect();
    let mut raws = Vec::new();
    for nonce in 0..per_sender {
        for s in &signers {
            raws.push(
                transfer(s, 901, nonce, Address::repeat_byte(0x77), U256::from(1)).encoded_2718(),
            );
        }
    }
    let total = raws.len() as u64;
    let live = tempfile::tempdir().unwrap();
    let node = Node::start(config(live.path()), &genesis).unwrap();
    // Decode and recover first, then push as fast as the ring takes them, as many ingress
    // workers under load would: mini-blocks fill up (`small` keeps them tiny instead).
    let decoded: Vec<_> = raws
        .iter()
        .map(|raw| node.ingress().decode(raw).unwrap())
        .collect();
    for tx in decoded {
        if small {
            std::thread::sleep(Duration::from_micros(20));
        }
        loop {
            match node.ingress().submit_decoded(tx.clone()) {
                Ok(_) => break,
                // Ring full: wait for the loop to drain it.
                Err(IngressError::Busy) => std::thread::sleep(Duration::from_micros(50)),
                Err(e) => panic!("{e}"),
            }
        }
    }
    // FIFO: once the last one is preconfirmed, all are.
    let last = keccak256(raws.last().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    while node.chain().preconfirmed(&last).unwrap().is_none() {
        assert!(Instant::now() < deadline, "load did not complete");
        std::thread::sleep(Duration::from_millis(10));
    }
    let minis = node.chain().feed.next_number();
    let image = tempfile::tempdir().unwrap();
    copy_dir(live.path(), image.path()).unwrap();
    node.shutdown().unwrap();

    let started = Instant::now();
    let recovered = Node::start(config(image.path()), &genesis).unwrap();
    let start_total = started.elapsed();
    let stats = recovered.replay_stats();
    assert_eq!(stats.transactions, total);
    println!(
        "\nreplay: {total} transfers in {minis} mini-blocks ({:.0} per mini-block)",
        total as f64 / minis as f64
    );
    println!(
        "  sequencer loop (execute + close): {:>8.1} ms  {:>9.0} tx/s",
        stats.elapsed.as_secs_f64() * 1e3,
        total as f64 / stats.elapsed.as_secs_f64()
    );
    println!(
        "  until visible (+ sign, publish):  {:>8.1} ms  {:>9.0} tx/s",
        stats.until_visible.as_secs_f64() * 1e3,
        total as f64 / stats.until_visible.as_secs_f64()
    );
    println!(
        "  whole Node::start (+ redb, read): {:>8.1} ms  {:>9.0} tx/s",
        start_total.as_secs_f64() * 1e3,
        total as f64 / start_total.as_secs_f64()
    );
    recovered.shutdown().unwrap();
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    // `cargo bench` passes `--bench`; anything else is ignored.
    append_latency(if quick { 200 } else { 2000 });
    sync_open_flags(if quick { 200 } else { 2000 });
    // 40k transfers: 840 Mgas, one L2 block (the gas limit is 1 Ggas); first in full
    // mini-blocks (load), then in mini-blocks of one or two (low load: one signature each).
    let (senders, per_sender) = if quick { (100, 50) } else { (400, 100) };
    replay_speed(senders, per_sender, false);
    replay_speed(senders, per_sender / 4, true);
}

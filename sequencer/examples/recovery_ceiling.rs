//! The physical ceiling of #12: how many transactions a second this machine can do if it
//! did nothing but the one piece of essential per-transaction work that cannot be shared,
//! sender recovery (EIP-2718 decode + secp256k1 public-key recovery, as ingress does it),
//! on every core at once.
//!
//! ```text
//! cargo run --release -p peregrine-sequencer --example recovery_ceiling -- [threads] [seconds]
//! ```
//!
//! Each thread recovers the senders of its own 1 024 signed transfers in a loop for the
//! given time (default: all cores, 5 s). Prints the rate per thread and in total.

use alloy_consensus::{TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, U256};
use peregrine_sequencer::{genesis::dev_mnemonic_signers, testing::transfer};
use std::{
    hint::black_box,
    time::{Duration, Instant},
};

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |s| s.parse().expect("threads: a number"),
    );
    let seconds: f64 = args
        .next()
        .map_or(5.0, |s| s.parse().expect("seconds: a number"));
    let signers = dev_mnemonic_signers();
    let raws: Vec<Vec<u8>> = (0..1024u64)
        .map(|i| {
            let signer = &signers[i as usize % signers.len()];
            transfer(signer, 901, i, Address::repeat_byte(7), U256::from(1 + i)).encoded_2718()
        })
        .collect();
    let run = Duration::from_secs_f64(seconds);
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let start = Instant::now();
                    let mut n = 0u64;
                    while start.elapsed() < run {
                        for raw in &raws {
                            let envelope = TxEnvelope::decode_2718(&mut raw.as_slice()).unwrap();
                            black_box(envelope.recover_signer().unwrap());
                        }
                        n += raws.len() as u64;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total: u64 = counts.iter().sum();
    for (i, n) in counts.iter().enumerate() {
        println!(
            "thread {i}: {:.0} recoveries/s ({:.1} µs each)",
            *n as f64 / seconds,
            seconds * 1e6 / *n as f64
        );
    }
    println!(
        "{threads} threads: {:.0} transactions/s with nothing but sender recovery",
        total as f64 / seconds
    );
}

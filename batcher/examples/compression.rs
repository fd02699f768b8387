//! The compression study of #10: which encoding and compressor the batch format uses,
//! measured on recorded blocks.
//!
//! ```text
//! peregrine dev --datadir /tmp/rec --wal.durability os &
//! peregrine-loadtest --rate 2000 --duration 10s --accounts 1024 --mix eth=50,erc20=50
//! kill %1
//! cargo run --release -p peregrine-batcher --example compression -- /tmp/rec 2
//! ```
//!
//! Reads every sealed block of the (stopped) node's datadir, groups them into channels of
//! `blocks-per-channel` consecutive blocks (the batcher's default is 2 s of blocks), and
//! prints L1 bytes per transaction for: the baseline (brotli-10 over the concatenated RLP
//! transactions), Peregrine's format v0 (block contexts + length-prefixed transactions)
//! under brotli and zstd at several levels, and zstd with a dictionary trained on the
//! first half of the transactions (measured on the second half).

use alloy_eips::eip2718::Encodable2718;
use peregrine_batcher::format::{BatchBlock, Codec};
use peregrine_chain::store::Store;
use std::io::Write;

fn brotli(data: &[u8], q: u32) -> usize {
    let mut out = Vec::new();
    let mut w = brotli::CompressorWriter::new(&mut out, 1 << 16, q, 24);
    w.write_all(data).unwrap();
    drop(w);
    out.len()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let datadir = args
        .next()
        .expect("usage: compression <datadir> [blocks-per-channel]");
    let per_channel: usize = args.next().map_or(2, |s| s.parse().expect("a number"));
    let store = Store::open(&std::path::Path::new(&datadir).join("chain.redb"))
        .expect("open the datadir (is the node stopped?)");
    let reader = store.reader().unwrap();
    let head = reader.head().unwrap().unwrap_or(0);
    let mut blocks = Vec::new();
    for n in 0..=head {
        let b = reader.block(n).unwrap().unwrap();
        blocks.push(BatchBlock {
            number: n,
            timestamp: b.header.timestamp,
            base_fee: b.header.base_fee_per_gas.unwrap_or(0),
            gas_limit: b.header.gas_limit,
            beneficiary: b.header.beneficiary,
            prev_randao: b.header.mix_hash,
            txs: b.txs.iter().map(|t| t.encoded_2718().into()).collect(),
        });
    }
    let txs: usize = blocks.iter().map(|b| b.txs.len()).sum();
    assert!(txs > 0, "no transactions in {datadir}");
    let channels: Vec<&[BatchBlock]> = blocks.chunks(per_channel.max(1)).collect();
    let per_tx = |bytes: usize| bytes as f64 / txs as f64;
    // Baseline: brotli-10 over the concatenated RLP (EIP-2718) transactions, per channel.
    let baseline: usize = channels
        .iter()
        .map(|c| {
            let raw: Vec<u8> = c
                .iter()
                .flat_map(|b| b.txs.iter().flat_map(|t| t.iter().copied()))
                .collect();
            brotli(&raw, 10)
        })
        .sum();
    let v0: Vec<Vec<u8>> = channels
        .iter()
        .map(|c| {
            let mut raw = Vec::new();
            for b in *c {
                b.encode(&mut raw);
            }
            raw
        })
        .collect();
    let raw_total: usize = v0.iter().map(Vec::len).sum();
    println!(
        "{} blocks, {txs} transactions, {} channels of {per_channel} blocks; uncompressed v0 {:.1} B/tx",
        blocks.len(),
        channels.len(),
        per_tx(raw_total)
    );
    println!(
        "{:<32} {:>10} {:>9} {:>16}",
        "encoding", "B/tx", "vs base", "compress tx/s"
    );
    println!(
        "{:<32} {:>10.1} {:>9.3}",
        "baseline: brotli-10(RLP txs)",
        per_tx(baseline),
        1.0
    );
    // Size, and how many transactions a second one core compresses (the best of 3 runs:
    // the batcher compresses on one thread).
    let row = |name: String, codec: Codec| {
        let mut best = std::time::Duration::MAX;
        let mut bytes = 0;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            bytes = v0.iter().map(|c| codec.compress(c).len()).sum::<usize>();
            best = best.min(start.elapsed());
        }
        println!(
            "{name:<32} {:>10.1} {:>9.3} {:>16.0}",
            per_tx(bytes),
            bytes as f64 / baseline as f64,
            txs as f64 / best.as_secs_f64()
        );
    };
    for q in [5, 6, 7, 8, 9, 10, 11] {
        row(format!("v0 brotli-{q}"), Codec::Brotli(q));
    }
    for l in [3, 9, 15, 19, 22] {
        row(format!("v0 zstd-{l}"), Codec::Zstd(l));
    }
    // zstd with a dictionary trained on the first half's transactions, measured on the
    // second half (both columns over the second half only).
    let half = channels.len() / 2;
    if half > 0 {
        let samples: Vec<Vec<u8>> = blocks
            .iter()
            .take(half * per_channel)
            .flat_map(|b| b.txs.iter().map(|t| t.to_vec()))
            .collect();
        match zstd::dict::from_samples(&samples, 64 << 10) {
            Ok(dict) => {
                let second = &v0[half..];
                let tx2: usize = channels[half..]
                    .iter()
                    .flat_map(|c| c.iter())
                    .map(|b| b.txs.len())
                    .sum();
                let base2: usize = channels[half..]
                    .iter()
                    .map(|c| {
                        let raw: Vec<u8> = c
                            .iter()
                            .flat_map(|b| b.txs.iter().flat_map(|t| t.iter().copied()))
                            .collect();
                        brotli(&raw, 10)
                    })
                    .sum();
                let mut comp = zstd::bulk::Compressor::with_dictionary(19, &dict).unwrap();
                let with: usize = second
                    .iter()
                    .map(|c| comp.compress(c).unwrap().len() + 1)
                    .sum();
                println!(
                    "{:<32} {:>10.1} {:>9.3}   (second half: baseline {:.1} B/tx; dictionary {} B not counted)",
                    "v0 zstd-19 + 64 KiB dictionary",
                    with as f64 / tx2.max(1) as f64,
                    with as f64 / base2 as f64,
                    base2 as f64 / tx2.max(1) as f64,
                    dict.len()
                );
            }
            Err(e) => println!("zstd dictionary: cannot train ({e})"),
        }
    }
}

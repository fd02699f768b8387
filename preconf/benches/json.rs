//! What a preconfirmation costs its sender and its checker: writing the JSON form (typed
//! `Serialize`, against building a `serde_json::Value` tree first, the way it was done
//! before), and parsing + verifying it (the signature recovery and both Merkle proofs).
//!
//! `cargo bench -p peregrine-preconf --bench json`

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use peregrine_preconf::{DEV_SEQUENCER_ADDRESS, Preconfirmation, testing::mini_block};
use std::hint::black_box;

fn json(c: &mut Criterion) {
    let mut group = c.benchmark_group("preconf_json");
    // One transaction (proofs of length 0, the low-load case) and the last of 1 024 (10).
    for n in [1usize, 1024] {
        let p = mini_block(n, 7).pop().expect("n > 0");
        group.bench_with_input(BenchmarkId::new("serialize", n), &p, |b, p| {
            b.iter(|| serde_json::to_string(black_box(p)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("value_then_text", n), &p, |b, p| {
            b.iter(|| serde_json::to_string(&black_box(p).to_json()).unwrap())
        });
        let text = serde_json::to_string(&p).unwrap();
        group.bench_with_input(BenchmarkId::new("parse_and_verify", n), &text, |b, text| {
            b.iter(|| {
                let v: serde_json::Value = serde_json::from_str(black_box(text)).unwrap();
                Preconfirmation::from_json(&v)
                    .unwrap()
                    .verify(Some(DEV_SEQUENCER_ADDRESS))
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, json);
criterion_main!(benches);

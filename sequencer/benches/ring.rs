//! Ring buffer vs `crossbeam_channel::bounded` vs `std::sync::mpsc::sync_channel`.
//!
//! * `throughput/*`: 1→1 and 4→1 producers, `u64`, a 64-byte struct and a 752-byte one
//!   (the size of `PendingTx`, which the sequencer's ring carries),
//!   `ITEMS` items per iteration, reported as elements/s. Peers: `ring`
//!   (`try_push` with spin-then-yield while full, `drain_into` batches,
//!   yield while empty), `crossbeam` and `std_mpsc` with their natural
//!   blocking `send`/`recv`, and `crossbeam_polling` (crossbeam driven exactly
//!   like the ring, to separate the data structure from the blocking policy).
//! * `handoff/*`: one-way handoff latency from a ping-pong over two queues
//!   (round trip / 2), every peer polling with `try_*` (spin, then yield after
//!   `POLL_SPINS` misses) so the data structure is what is compared.
//! * `overhead/instant_pair`: cost of one `Instant::now()` + `elapsed()`,
//!   to read the per-handoff percentiles against.
//! * After Criterion, a per-handoff percentile table (p50/p90/p99/p99.9 of
//!   round trip / 2, each round trip timed individually) is printed for each
//!   peer; `RING_BENCH_NO_PERCENTILES=1` skips it.
//! * Then a paired table: ring and crossbeam run alternately, round after round, and
//!   the median of the per-round ratios is reported with its quartiles. On a shared,
//!   noisy machine this is the ratio to quote: Criterion's separate runs of each peer
//!   can land minutes apart under different load. `RING_BENCH_NO_PAIRED=1` skips it.
//!
//! `cargo bench -p peregrine-sequencer --bench ring -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use peregrine_sequencer::ring::{self, Consumer, Producer};

type Group<'a> = BenchmarkGroup<'a, WallTime>;

/// Items moved per throughput iteration.
const ITEMS: u64 = 1 << 20;
/// Queue capacity for every peer.
const CAPACITY: usize = 4096;
/// Consumer batch for our ring's `drain_into`.
const BATCH: usize = 256;
/// Round trips per peer for the percentile table.
const PERCENTILE_ROUND_TRIPS: usize = 200_000;

/// Spin-then-yield pause used by every busy-polling loop in this file: spin
/// briefly (the partner is normally running on the other core), then yield so
/// that a descheduled partner on a 2-core box can get the CPU back.
struct Pause {
    spins: u32,
    spin_limit: u32,
}

impl Pause {
    fn new(spin_limit: u32) -> Self {
        Self {
            spins: 0,
            spin_limit,
        }
    }

    #[inline(always)]
    fn pause(&mut self) {
        if self.spins < self.spin_limit {
            self.spins += 1;
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }
}

/// Spin limit for full-queue retries in the throughput benches.
const SEND_SPINS: u32 = 16;
/// Spin limit for the ping-pong polls before falling back to yielding.
const POLL_SPINS: u32 = 1 << 14;

/// Sends through `try_send`, pausing while full.
#[inline(always)]
fn send_polling<T: Send + 'static, P: Peer<T>>(tx: &P::Tx, mut value: T) {
    let mut pause = Pause::new(SEND_SPINS);
    while let Err(back) = P::try_send(tx, value) {
        value = back;
        pause.pause();
    }
}

/// 64-byte payload (8-byte aligned), like a small transaction envelope.
#[derive(Clone, Copy)]
#[repr(C)]
struct Msg64 {
    words: [u64; 8],
}

/// 752-byte payload: the size of `PendingTx`, what the sequencer's ring carries.
#[derive(Clone, Copy)]
#[repr(C)]
struct PendingTxSized {
    words: [u64; 94],
}

// Kept in step with the real type: this stops compiling when `PendingTx` changes size.
const _: () = assert!(
    std::mem::size_of::<PendingTxSized>() == std::mem::size_of::<peregrine_sequencer::PendingTx>()
);

trait Item: Copy + Send + 'static {
    const NAME: &'static str;
    fn make(i: u64) -> Self;
    fn key(&self) -> u64;
}

impl Item for u64 {
    const NAME: &'static str = "u64";
    #[inline(always)]
    fn make(i: u64) -> Self {
        i
    }
    #[inline(always)]
    fn key(&self) -> u64 {
        *self
    }
}

impl Item for Msg64 {
    const NAME: &'static str = "msg64";
    #[inline(always)]
    fn make(i: u64) -> Self {
        Self {
            words: [i, i ^ 1, i ^ 2, i ^ 3, i ^ 4, i ^ 5, i ^ 6, i ^ 7],
        }
    }
    #[inline(always)]
    fn key(&self) -> u64 {
        self.words.iter().fold(0u64, |acc, w| acc.wrapping_add(*w))
    }
}

/// A bounded MPSC queue under test.
trait Peer<T: Send + 'static> {
    const NAME: &'static str;
    type Tx: Clone + Send + 'static;
    type Rx: Send + 'static;
    fn pair(capacity: usize) -> (Self::Tx, Self::Rx);
    /// Sends, waiting (the peer's natural way) while full.
    fn send(tx: &Self::Tx, value: T);
    /// Receives at least one item, waiting the peer's natural way; returns
    /// how many were handed to `f`.
    fn recv_some(rx: &mut Self::Rx, f: &mut impl FnMut(T)) -> usize;
    /// Non-blocking send (latency benches busy-poll).
    fn try_send(tx: &Self::Tx, value: T) -> Result<(), T>;
    /// Non-blocking receive (latency benches busy-poll).
    fn try_recv(rx: &mut Self::Rx) -> Option<T>;
}

struct Ours;
struct Crossbeam;
/// Crossbeam driven like our ring: `try_send` with spin-then-yield while full,
/// `try_recv` with a yield while empty (no parking, no futex wakeups).
struct CrossbeamPolling;
struct StdSync;

impl<T: Send + 'static> Peer<T> for Ours {
    const NAME: &'static str = "ring";
    type Tx = Producer<T>;
    type Rx = Consumer<T>;
    fn pair(capacity: usize) -> (Self::Tx, Self::Rx) {
        ring::channel(capacity).unwrap()
    }
    #[inline]
    fn send(tx: &Self::Tx, value: T) {
        send_polling::<T, Self>(tx, value);
    }
    #[inline]
    fn recv_some(rx: &mut Self::Rx, f: &mut impl FnMut(T)) -> usize {
        loop {
            let n = rx.drain_into(BATCH, &mut *f);
            if n > 0 {
                return n;
            }
            ring::WaitStrategy::Yield.idle(None);
        }
    }
    #[inline]
    fn try_send(tx: &Self::Tx, value: T) -> Result<(), T> {
        tx.try_push(value).map_err(|full| full.into_inner())
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_pop()
    }
}

impl<T: Send + 'static> Peer<T> for Crossbeam {
    const NAME: &'static str = "crossbeam";
    type Tx = crossbeam_channel::Sender<T>;
    type Rx = crossbeam_channel::Receiver<T>;
    fn pair(capacity: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(capacity)
    }
    #[inline]
    fn send(tx: &Self::Tx, value: T) {
        tx.send(value).ok().unwrap();
    }
    #[inline]
    fn recv_some(rx: &mut Self::Rx, f: &mut impl FnMut(T)) -> usize {
        f(rx.recv().unwrap());
        1
    }
    #[inline]
    fn try_send(tx: &Self::Tx, value: T) -> Result<(), T> {
        tx.try_send(value).map_err(|e| e.into_inner())
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
}

impl<T: Send + 'static> Peer<T> for CrossbeamPolling {
    const NAME: &'static str = "crossbeam_polling";
    type Tx = crossbeam_channel::Sender<T>;
    type Rx = crossbeam_channel::Receiver<T>;
    fn pair(capacity: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(capacity)
    }
    #[inline]
    fn send(tx: &Self::Tx, value: T) {
        send_polling::<T, Self>(tx, value);
    }
    #[inline]
    fn recv_some(rx: &mut Self::Rx, f: &mut impl FnMut(T)) -> usize {
        loop {
            let mut n = 0;
            while n < BATCH {
                match rx.try_recv() {
                    Ok(v) => {
                        f(v);
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            if n > 0 {
                return n;
            }
            thread::yield_now();
        }
    }
    #[inline]
    fn try_send(tx: &Self::Tx, value: T) -> Result<(), T> {
        tx.try_send(value).map_err(|e| e.into_inner())
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
}

impl<T: Send + 'static> Peer<T> for StdSync {
    const NAME: &'static str = "std_mpsc";
    type Tx = mpsc::SyncSender<T>;
    type Rx = mpsc::Receiver<T>;
    fn pair(capacity: usize) -> (Self::Tx, Self::Rx) {
        mpsc::sync_channel(capacity)
    }
    #[inline]
    fn send(tx: &Self::Tx, value: T) {
        tx.send(value).ok().unwrap();
    }
    #[inline]
    fn recv_some(rx: &mut Self::Rx, f: &mut impl FnMut(T)) -> usize {
        f(rx.recv().unwrap());
        1
    }
    #[inline]
    fn try_send(tx: &Self::Tx, value: T) -> Result<(), T> {
        tx.try_send(value).map_err(|e| match e {
            mpsc::TrySendError::Full(v) | mpsc::TrySendError::Disconnected(v) => v,
        })
    }
    #[inline]
    fn try_recv(rx: &mut Self::Rx) -> Option<T> {
        rx.try_recv().ok()
    }
}

/// Moves `ITEMS` items from `producers` threads to this thread; returns the
/// elapsed time (channel creation excluded, thread start included).
fn run_throughput<T: Item, P: Peer<T>>(producers: u64) -> Duration {
    let (tx, mut rx) = P::pair(CAPACITY);
    let per = ITEMS / producers;
    let start = Instant::now();
    thread::scope(|s| {
        for p in 0..producers {
            let tx = tx.clone();
            s.spawn(move || {
                let base = p * per;
                for i in base..base + per {
                    P::send(&tx, T::make(i));
                }
            });
        }
        let mut received = 0u64;
        let mut checksum = 0u64;
        let mut sink = |v: T| checksum = checksum.wrapping_add(v.key());
        while received < per * producers {
            received += P::recv_some(&mut rx, &mut sink) as u64;
        }
        black_box(checksum);
    });
    let elapsed = start.elapsed();
    drop(tx);
    elapsed
}

fn bench_throughput<T: Item, P: Peer<T>>(group: &mut Group<'_>, producers: u64, label: &str) {
    group.bench_function(BenchmarkId::new(P::NAME, label), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_throughput::<T, P>(producers)).sum())
    });
}

fn throughput_for<T: Item>(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("throughput/{}", T::NAME));
    group.sample_size(10);
    group.throughput(Throughput::Elements(ITEMS));
    for producers in [1u64, 4] {
        let label = format!("{producers}p1c");
        bench_throughput::<T, Ours>(&mut group, producers, &label);
        bench_throughput::<T, Crossbeam>(&mut group, producers, &label);
        bench_throughput::<T, CrossbeamPolling>(&mut group, producers, &label);
        bench_throughput::<T, StdSync>(&mut group, producers, &label);
    }
    group.finish();
}

/// Ping-pong harness: an echo thread busy-polls `ping` and sends every value
/// back on `pong`; `u64::MAX` stops it.
struct PingPong<P: Peer<u64>> {
    ping: P::Tx,
    pong: P::Rx,
    echo: Option<thread::JoinHandle<()>>,
}

impl<P: Peer<u64>> PingPong<P> {
    fn start() -> Self {
        let (ping, mut ping_rx) = P::pair(1024);
        let (pong_tx, pong) = P::pair(1024);
        let echo = thread::spawn(move || {
            loop {
                let mut pause = Pause::new(POLL_SPINS);
                let v = loop {
                    if let Some(v) = P::try_recv(&mut ping_rx) {
                        break v;
                    }
                    pause.pause();
                };
                if v == u64::MAX {
                    return;
                }
                let mut v = v;
                let mut pause = Pause::new(POLL_SPINS);
                while let Err(back) = P::try_send(&pong_tx, v) {
                    v = back;
                    pause.pause();
                }
            }
        });
        Self {
            ping,
            pong,
            echo: Some(echo),
        }
    }

    /// One round trip.
    #[inline(always)]
    fn round_trip(&mut self, v: u64) {
        let mut out = v;
        let mut pause = Pause::new(POLL_SPINS);
        while let Err(back) = P::try_send(&self.ping, out) {
            out = back;
            pause.pause();
        }
        let mut pause = Pause::new(POLL_SPINS);
        loop {
            if let Some(r) = P::try_recv(&mut self.pong) {
                debug_assert_eq!(r, v);
                black_box(r);
                return;
            }
            pause.pause();
        }
    }
}

impl<P: Peer<u64>> Drop for PingPong<P> {
    fn drop(&mut self) {
        let mut stop = u64::MAX;
        while let Err(back) = P::try_send(&self.ping, stop) {
            stop = back;
            thread::yield_now();
        }
        if let Some(echo) = self.echo.take() {
            echo.join().unwrap();
        }
    }
}

fn handoff_one<P: Peer<u64>>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    group.bench_function(P::NAME, |b| {
        let mut pp = PingPong::<P>::start();
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                pp.round_trip(i);
            }
            // One-way handoff = half a round trip.
            start.elapsed() / 2
        });
    });
}

fn handoff(c: &mut Criterion) {
    let mut group = c.benchmark_group("handoff/one_way_rtt_half");
    handoff_one::<Ours>(&mut group);
    handoff_one::<Crossbeam>(&mut group);
    handoff_one::<StdSync>(&mut group);
    group.finish();
}

fn overhead(c: &mut Criterion) {
    c.bench_function("overhead/instant_pair", |b| {
        b.iter(|| {
            let t = Instant::now();
            black_box(t.elapsed())
        })
    });
}

/// Per-round-trip timings → percentiles of the one-way estimate (rtt / 2).
fn percentiles<P: Peer<u64>>() -> [f64; 4] {
    let mut pp = PingPong::<P>::start();
    for i in 0..10_000 {
        pp.round_trip(i);
    }
    let mut samples = Vec::with_capacity(PERCENTILE_ROUND_TRIPS);
    for i in 0..PERCENTILE_ROUND_TRIPS as u64 {
        let t = Instant::now();
        pp.round_trip(i);
        samples.push(t.elapsed().as_nanos() as f64 / 2.0);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    [at(0.50), at(0.90), at(0.99), at(0.999)]
}

/// Amortized cost of one `Instant::now()` + `elapsed()` pair, in ns.
fn instant_pair_cost() -> f64 {
    const N: u32 = 1_000_000;
    let start = Instant::now();
    for _ in 0..N {
        let t = Instant::now();
        black_box(t.elapsed());
    }
    start.elapsed().as_nanos() as f64 / f64::from(N)
}

fn print_percentiles() {
    println!();
    println!(
        "one-way handoff (round trip / 2), {PERCENTILE_ROUND_TRIPS} round trips each, busy-polling both sides:"
    );
    println!(
        "{:<10} {:>9} {:>9} {:>9} {:>10}",
        "peer", "p50 ns", "p90 ns", "p99 ns", "p99.9 ns"
    );
    let rows = [
        (<Ours as Peer<u64>>::NAME, percentiles::<Ours>()),
        (<Crossbeam as Peer<u64>>::NAME, percentiles::<Crossbeam>()),
        (<StdSync as Peer<u64>>::NAME, percentiles::<StdSync>()),
    ];
    for (name, [p50, p90, p99, p999]) in rows {
        println!("{name:<10} {p50:>9.1} {p90:>9.1} {p99:>9.1} {p999:>10.1}");
    }
    let pair = instant_pair_cost();
    println!(
        "(each sample includes one Instant::now()+elapsed() pair, {pair:.1} ns amortized, \
         i.e. at most {:.1} ns of each one-way figure)",
        pair / 2.0
    );
}

impl Item for PendingTxSized {
    const NAME: &'static str = "pending_tx_752b";
    #[inline(always)]
    fn make(i: u64) -> Self {
        let mut words = [i; 94];
        words[93] = i ^ 93;
        Self { words }
    }
    #[inline(always)]
    fn key(&self) -> u64 {
        self.words[0].wrapping_add(self.words[93])
    }
}

/// Interleaved rounds per row of the paired table.
const PAIRED_ROUNDS: usize = 21;

/// Ring and crossbeam (natural blocking) moving `ITEMS` items alternately, `PAIRED_ROUNDS`
/// times: each round's ratio compares two runs a few milliseconds apart, so a change in
/// the machine's load (this box is shared) hits both. Returns the median ring and
/// crossbeam rates (Melem/s) and the 25th/50th/75th percentile of the per-round ratio.
fn paired<T: Item>(producers: u64) -> (f64, f64, [f64; 3]) {
    let rate = |d: Duration| ITEMS as f64 / d.as_secs_f64() / 1e6;
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..PAIRED_ROUNDS {
        // Alternate which goes first, so neither always runs on a warmer cache.
        let (a, b) = if round % 2 == 0 {
            let a = run_throughput::<T, Ours>(producers);
            (a, run_throughput::<T, Crossbeam>(producers))
        } else {
            let b = run_throughput::<T, Crossbeam>(producers);
            (run_throughput::<T, Ours>(producers), b)
        };
        ours.push(rate(a));
        theirs.push(rate(b));
        ratios.push(rate(a) / rate(b));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (o, t) = (median(&mut ours), median(&mut theirs));
    ratios.sort_by(f64::total_cmp);
    let q = |f: f64| ratios[((ratios.len() - 1) as f64 * f) as usize];
    (o, t, [q(0.25), q(0.5), q(0.75)])
}

fn print_paired() {
    println!();
    println!(
        "paired throughput, ring vs crossbeam bounded (blocking send/recv), {PAIRED_ROUNDS} \
         interleaved rounds of {ITEMS} items each:"
    );
    println!(
        "{:<18} {:>5} {:>12} {:>12} {:>8} {:>16}",
        "payload", "p→c", "ring Me/s", "xbeam Me/s", "ratio", "ratio p25..p75"
    );
    for producers in [1u64, 4] {
        let rows = [
            (u64::NAME, paired::<u64>(producers)),
            (Msg64::NAME, paired::<Msg64>(producers)),
            (PendingTxSized::NAME, paired::<PendingTxSized>(producers)),
        ];
        for (name, (o, t, [lo, mid, hi])) in rows {
            println!(
                "{name:<18} {:>5} {o:>12.1} {t:>12.1} {mid:>7.2}× {lo:>7.2}..{hi:<7.2}",
                format!("{producers}→1")
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--test" || a == "--list");
    let mut c = Criterion::default().configure_from_args();
    throughput_for::<u64>(&mut c);
    throughput_for::<Msg64>(&mut c);
    throughput_for::<PendingTxSized>(&mut c);
    handoff(&mut c);
    overhead(&mut c);
    c.final_summary();
    if !quick && std::env::var_os("RING_BENCH_NO_PERCENTILES").is_none() {
        print_percentiles();
    }
    if !quick && std::env::var_os("RING_BENCH_NO_PAIRED").is_none() {
        print_paired();
    }
}

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
//! * Then a paired table: ring, crossbeam and the `disruptor` crate (a Rust LMAX
//!   Disruptor, multi-producer, `EventPoller` consumer) run in turn, round after round,
//!   and the medians of the per-round ratios are reported with their quartiles. On a shared,
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

/// [`run_throughput`] for the `disruptor` crate (a Rust LMAX Disruptor): a multi-producer
/// ring with an `EventPoller` consumer on this thread. Driven like our ring: producers
/// `try_publish` with spin-then-yield while full, the consumer yields while empty. (It
/// does not fit [`Peer`]: publishing needs `&mut` on the producer, and events are
/// written in place rather than moved.)
fn run_throughput_disruptor<T: Item + Sync>(producers: u64) -> Duration {
    use disruptor::{BusySpin, Polling, Producer as _};
    let builder = disruptor::build_multi_producer(CAPACITY, || T::make(0), BusySpin);
    let (mut poller, builder) = builder.new_event_poller();
    let producer = builder.build();
    let per = ITEMS / producers;
    let start = Instant::now();
    thread::scope(|s| {
        for p in 0..producers {
            let mut producer = producer.clone();
            s.spawn(move || {
                let base = p * per;
                for i in base..base + per {
                    let value = T::make(i);
                    let mut pause = Pause::new(SEND_SPINS);
                    while producer.try_publish(|e| *e = value).is_err() {
                        pause.pause();
                    }
                }
            });
        }
        let mut received = 0u64;
        let mut checksum = 0u64;
        while received < per * producers {
            match poller.poll() {
                Ok(mut events) => {
                    for e in &mut events {
                        checksum = checksum.wrapping_add(e.key());
                        received += 1;
                    }
                }
                Err(Polling::NoEvents) => thread::yield_now(),
                Err(Polling::Shutdown) => unreachable!("the producer outlives the loop"),
            }
        }
        black_box(checksum);
    });
    let elapsed = start.elapsed();
    drop(producer);
    elapsed
}

fn bench_throughput<T: Item, P: Peer<T>>(group: &mut Group<'_>, producers: u64, label: &str) {
    group.bench_function(BenchmarkId::new(P::NAME, label), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_throughput::<T, P>(producers)).sum())
    });
}

fn throughput_for<T: Item + Sync>(c: &mut Criterion) {
    let mut group = c.benchmark_group(format!("throughput/{}", T::NAME));
    group.sample_size(10);
    group.throughput(Throughput::Elements(ITEMS));
    for producers in [1u64, 4] {
        let label = format!("{producers}p1c");
        bench_throughput::<T, Ours>(&mut group, producers, &label);
        bench_throughput::<T, Crossbeam>(&mut group, producers, &label);
        bench_throughput::<T, CrossbeamPolling>(&mut group, producers, &label);
        bench_throughput::<T, StdSync>(&mut group, producers, &label);
        group.bench_function(BenchmarkId::new("disruptor", &label), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| run_throughput_disruptor::<T>(producers))
                    .sum()
            })
        });
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

/// One row of the paired table: median rates (Melem/s) of ring, crossbeam and the
/// disruptor crate, and the 25th/50th/75th percentiles of the per-round ratios
/// ring/crossbeam and ring/disruptor.
struct PairedRow {
    rates: [f64; 3],
    vs_crossbeam: [f64; 3],
    vs_disruptor: [f64; 3],
}

/// Ring, crossbeam (natural blocking) and the disruptor crate moving `ITEMS` items in
/// turn, `PAIRED_ROUNDS` times: each round's ratios compare runs a few milliseconds
/// apart, so a change in the machine's load (this box is shared) hits all three. The
/// order rotates from round to round, so none always runs on a warmer cache.
fn paired<T: Item + Sync>(producers: u64) -> PairedRow {
    let rate = |d: Duration| ITEMS as f64 / d.as_secs_f64() / 1e6;
    let mut rates: [Vec<f64>; 3] = Default::default();
    let (mut vs_crossbeam, mut vs_disruptor) = (Vec::new(), Vec::new());
    for round in 0..PAIRED_ROUNDS {
        let mut r = [0.0; 3];
        for k in 0..3 {
            let peer = (round + k) % 3;
            r[peer] = rate(match peer {
                0 => run_throughput::<T, Ours>(producers),
                1 => run_throughput::<T, Crossbeam>(producers),
                _ => run_throughput_disruptor::<T>(producers),
            });
        }
        for (all, one) in rates.iter_mut().zip(r) {
            all.push(one);
        }
        vs_crossbeam.push(r[0] / r[1]);
        vs_disruptor.push(r[0] / r[2]);
    }
    let quartiles = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize];
        [q(0.25), q(0.5), q(0.75)]
    };
    PairedRow {
        rates: rates.map(|v| quartiles(v)[1]),
        vs_crossbeam: quartiles(vs_crossbeam),
        vs_disruptor: quartiles(vs_disruptor),
    }
}

fn print_paired() {
    println!();
    println!(
        "paired throughput: ring, crossbeam bounded (blocking send/recv) and the disruptor \
         crate (polled like the ring), {PAIRED_ROUNDS} rotating rounds of {ITEMS} items each; \
         ratios are medians of the per-round ratios, with their quartiles:"
    );
    println!(
        "{:<16} {:>5} {:>9} {:>9} {:>9} {:>22} {:>22}",
        "payload",
        "p→c",
        "ring",
        "xbeam",
        "disrupt",
        "ring/xbeam p25..p75",
        "ring/disrupt p25..p75"
    );
    for producers in [1u64, 4] {
        let rows = [
            (u64::NAME, paired::<u64>(producers)),
            (Msg64::NAME, paired::<Msg64>(producers)),
            (PendingTxSized::NAME, paired::<PendingTxSized>(producers)),
        ];
        for (name, row) in rows {
            let [o, x, d] = row.rates;
            let [xl, xm, xh] = row.vs_crossbeam;
            let [dl, dm, dh] = row.vs_disruptor;
            println!(
                "{name:<16} {:>5} {o:>9.1} {x:>9.1} {d:>9.1} {xm:>7.2}× {xl:>5.2}..{xh:<6.2} \
                 {dm:>7.2}× {dl:>5.2}..{dh:<6.2}",
                format!("{producers}→1")
            );
        }
    }
    println!("(rates in Melem/s, medians)");
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

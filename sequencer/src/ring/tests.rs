//! Unit tests and property tests (std build; the loom model lives in
//! `loom_tests.rs`).

use std::collections::VecDeque;
use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

/// Counts drops into a shared counter.
#[derive(Debug)]
struct DropCounter {
    id: u64,
    drops: StdArc<StdAtomicUsize>,
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.drops.fetch_add(1, StdOrdering::SeqCst);
    }
}

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}

#[test]
fn handles_have_the_right_auto_traits() {
    assert_send::<Producer<String>>();
    assert_sync::<Producer<String>>();
    assert_send::<Consumer<String>>();
    assert_send::<Ring<String>>();
    assert_sync::<Ring<String>>();
}

#[test]
fn capacity_is_validated() {
    assert_eq!(
        channel::<u8>(0).unwrap_err(),
        RingError::CapacityTooSmall(0)
    );
    assert_eq!(
        channel::<u8>(1).unwrap_err(),
        RingError::CapacityTooSmall(1)
    );
    assert_eq!(
        channel::<u8>(3).unwrap_err(),
        RingError::CapacityNotPowerOfTwo(3)
    );
    assert_eq!(
        channel::<u8>(1000).unwrap_err(),
        RingError::CapacityNotPowerOfTwo(1000)
    );
    assert_eq!(
        channel::<u8>(MAX_CAPACITY * 2).unwrap_err(),
        RingError::CapacityTooLarge {
            requested: MAX_CAPACITY * 2,
            max: MAX_CAPACITY
        }
    );
    for cap in [2, 4, 1024] {
        let (tx, rx) = channel::<u8>(cap).unwrap();
        assert_eq!(tx.capacity(), cap);
        assert_eq!(rx.capacity(), cap);
    }
    let (_, _) = Ring::<u8>::channel(8).unwrap();
}

#[test]
fn error_messages() {
    assert_eq!(RingFull(5u8).to_string(), "ring buffer full");
    assert_eq!(format!("{:?}", RingFull(5u8)), "RingFull(..)");
    assert_eq!(RingFull(7u8).into_inner(), 7);
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(RingFull(vec![1u8]));
    assert_eq!(boxed.to_string(), "ring buffer full");
    assert_eq!(
        RingError::CapacityNotPowerOfTwo(3).to_string(),
        "ring capacity 3 is not a power of two"
    );
}

#[test]
fn fill_then_drain_wraps_many_laps() {
    let (tx, mut rx) = channel::<u64>(4).unwrap();
    let mut next_in = 0u64;
    let mut next_out = 0u64;
    for _ in 0..100 {
        while tx.try_push(next_in).is_ok() {
            next_in += 1;
        }
        assert_eq!(tx.len(), 4);
        assert_eq!(rx.len(), 4);
        assert!(!rx.is_empty());
        assert_eq!(tx.try_push(u64::MAX).unwrap_err().into_inner(), u64::MAX);
        let n = rx.drain_into(3, |v| {
            assert_eq!(v, next_out);
            next_out += 1;
        });
        assert_eq!(n, 3);
        assert_eq!(rx.try_pop(), Some(next_out));
        next_out += 1;
        assert!(rx.is_empty());
        assert_eq!(rx.try_pop(), None);
        assert_eq!(tx.len(), 0);
    }
    assert_eq!(next_in, next_out);
}

#[test]
fn drain_into_respects_max() {
    let (tx, mut rx) = channel::<u32>(8).unwrap();
    for i in 0..5 {
        tx.try_push(i).unwrap();
    }
    assert_eq!(rx.drain_into(0, |_| unreachable!()), 0);
    let mut out = Vec::new();
    assert_eq!(rx.drain_into(2, |v| out.push(v)), 2);
    assert_eq!(rx.drain_into(100, |v| out.push(v)), 3);
    assert_eq!(out, [0, 1, 2, 3, 4]);
    assert_eq!(rx.drain_into(100, |v| out.push(v)), 0);
}

#[test]
fn wait_strategy_parsing() {
    assert_eq!("busy-spin".parse(), Ok(WaitStrategy::BusySpin));
    assert_eq!("yield".parse(), Ok(WaitStrategy::Yield));
    assert_eq!(
        " park ".parse(),
        Ok(WaitStrategy::Park(DEFAULT_PARK_TIMEOUT))
    );
    assert_eq!(DEFAULT_PARK_TIMEOUT, Duration::from_micros(50));
    assert_eq!(WaitStrategy::default(), WaitStrategy::Yield);
    let err = "spin".parse::<WaitStrategy>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown wait strategy \"spin\": expected one of \"busy-spin\", \"yield\", \"park\""
    );
    for s in [WaitStrategy::BusySpin, WaitStrategy::Yield] {
        assert_eq!(s.to_string().parse(), Ok(s));
    }
}

#[test]
fn only_yield_parks_while_a_block_seals() {
    assert_eq!(
        WaitStrategy::Yield.while_sealing(true),
        WaitStrategy::Park(SEALING_PARK)
    );
    assert_eq!(
        WaitStrategy::Yield.while_sealing(false),
        WaitStrategy::Yield
    );
    let park = WaitStrategy::Park(DEFAULT_PARK_TIMEOUT);
    for s in [WaitStrategy::BusySpin, park] {
        assert_eq!(s.while_sealing(true), s);
        assert_eq!(s.while_sealing(false), s);
    }
}

#[test]
fn pop_wait_times_out_and_receives() {
    for strategy in [
        WaitStrategy::BusySpin,
        WaitStrategy::Yield,
        WaitStrategy::Park(Duration::from_micros(200)),
    ] {
        let (tx, mut rx) = channel::<u32>(2).unwrap();
        // Past deadline: a single poll.
        assert_eq!(rx.pop_wait(strategy, Some(Instant::now())), None);
        let start = Instant::now();
        let deadline = start + Duration::from_millis(5);
        assert_eq!(rx.pop_wait(strategy, Some(deadline)), None);
        assert!(Instant::now() >= deadline);
        tx.try_push(1).unwrap();
        assert_eq!(rx.pop_wait(strategy, Some(Instant::now())), Some(1));
        let handle = thread::spawn(move || {
            thread::sleep(Duration::from_millis(2));
            tx.try_push(2).unwrap();
        });
        assert_eq!(rx.pop_wait(strategy, None), Some(2));
        handle.join().unwrap();
    }
}

#[test]
fn drops_items_left_inside() {
    // (items pushed, items popped) on a capacity-4 ring; pushes beyond the
    // capacity happen after pops, so the remaining items straddle the wrap.
    for (pushed, popped) in [(0, 0), (3, 0), (4, 1), (4, 4), (7, 3), (9, 6)] {
        let drops = StdArc::new(StdAtomicUsize::new(0));
        let (tx, mut rx) = channel::<DropCounter>(4).unwrap();
        let mut next_pop = 0;
        for id in 0..pushed {
            let mut item = DropCounter {
                id,
                drops: drops.clone(),
            };
            while let Err(full) = tx.try_push(item) {
                item = full.into_inner();
                let v = rx.try_pop().unwrap();
                assert_eq!(v.id, next_pop);
                next_pop += 1;
            }
        }
        while next_pop < popped {
            assert_eq!(rx.try_pop().unwrap().id, next_pop);
            next_pop += 1;
        }
        assert_eq!(drops.load(StdOrdering::SeqCst) as u64, popped);
        drop(tx);
        drop(rx);
        assert_eq!(
            drops.load(StdOrdering::SeqCst) as u64,
            pushed,
            "pushed {pushed}, popped {popped}"
        );
    }
}

#[test]
fn drop_with_consumer_first_and_producer_alive() {
    let drops = StdArc::new(StdAtomicUsize::new(0));
    let (tx, rx) = channel::<DropCounter>(8).unwrap();
    for id in 0..5 {
        tx.try_push(DropCounter {
            id,
            drops: drops.clone(),
        })
        .unwrap();
    }
    drop(rx);
    assert_eq!(drops.load(StdOrdering::SeqCst), 0);
    let tx2 = tx.clone();
    drop(tx);
    tx2.try_push(DropCounter {
        id: 9,
        drops: drops.clone(),
    })
    .unwrap();
    drop(tx2);
    assert_eq!(drops.load(StdOrdering::SeqCst), 6);
}

#[test]
fn panicking_drain_callback_keeps_ring_consistent() {
    let (tx, mut rx) = channel::<u32>(4).unwrap();
    for i in 0..4 {
        tx.try_push(i).unwrap();
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rx.drain_into(4, |v| {
            if v == 1 {
                panic!("boom");
            }
        })
    }));
    assert!(result.is_err());
    assert_eq!(rx.try_pop(), Some(2));
    assert_eq!(rx.try_pop(), Some(3));
    assert_eq!(rx.try_pop(), None);
    assert_eq!(tx.len(), 0);
}

#[test]
fn threaded_smoke_many_producers() {
    const PRODUCERS: u64 = 4;
    const PER: u64 = 50_000;
    let (tx, mut rx) = channel::<(u64, u64)>(64).unwrap();
    let handles: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..PER {
                    let mut item = (p, i);
                    while let Err(full) = tx.try_push(item) {
                        item = full.into_inner();
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut next = [0u64; PRODUCERS as usize];
    let mut total = 0;
    while total < PRODUCERS * PER {
        total += rx.drain_into(32, |(p, i)| {
            assert_eq!(next[p as usize], i);
            next[p as usize] += 1;
        }) as u64;
        if rx.is_empty() {
            WaitStrategy::Yield.idle(None);
        }
    }
    for h in handles {
        h.join().unwrap();
    }
    assert!(next.iter().all(|&n| n == PER));
    assert_eq!(rx.try_pop(), None);
}

/// One step of the single-threaded model check.
#[derive(Debug, Clone)]
enum Op {
    Push(u32),
    Pop,
    Drain(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u32>().prop_map(Op::Push),
        2 => Just(Op::Pop),
        1 => (0usize..10).prop_map(Op::Drain),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Single-threaded: the ring behaves exactly like a bounded VecDeque.
    #[test]
    fn matches_vecdeque_model(shift in 1u32..7, ops in proptest::collection::vec(op(), 0..400)) {
        let cap = 1usize << shift;
        let (tx, mut rx) = channel::<u32>(cap).unwrap();
        let mut model = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(v) => match tx.try_push(v) {
                    Ok(()) => {
                        prop_assert!(model.len() < cap);
                        model.push_back(v);
                    }
                    Err(full) => {
                        prop_assert_eq!(model.len(), cap);
                        prop_assert_eq!(full.into_inner(), v);
                    }
                },
                Op::Pop => prop_assert_eq!(rx.try_pop(), model.pop_front()),
                Op::Drain(max) => {
                    let mut got = Vec::new();
                    let n = rx.drain_into(max, |v| got.push(v));
                    let want: Vec<u32> = (0..max.min(model.len()))
                        .map(|_| model.pop_front().unwrap())
                        .collect();
                    prop_assert_eq!(n, want.len());
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(tx.len(), model.len());
            prop_assert_eq!(rx.len(), model.len());
            prop_assert_eq!(rx.is_empty(), model.is_empty());
        }
    }

    /// Several producer threads, concurrent consumer: each item exactly once,
    /// per-producer FIFO, and anything left behind is dropped exactly once.
    #[test]
    fn concurrent_exactly_once_in_order(
        shift in 1u32..6,
        per_producer in proptest::collection::vec(0usize..300, 1..5),
        batch in 1usize..16,
        stop_after in proptest::option::of(0usize..600),
    ) {
        let cap = 1usize << shift;
        let drops = StdArc::new(StdAtomicUsize::new(0));
        let (tx, mut rx) = channel::<DropCounter>(cap).unwrap();
        let total: usize = per_producer.iter().sum();
        let producers = per_producer.len();
        let handles: Vec<_> = per_producer
            .iter()
            .enumerate()
            .map(|(p, &count)| {
                let tx = tx.clone();
                let drops = drops.clone();
                thread::spawn(move || {
                    for i in 0..count {
                        let mut item = DropCounter { id: ((p as u64) << 32) | i as u64, drops: drops.clone() };
                        loop {
                            match tx.try_push(item) {
                                Ok(()) => break,
                                Err(full) => {
                                    prop_assert!(tx.len() <= tx.capacity());
                                    item = full.into_inner();
                                    thread::yield_now();
                                }
                            }
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        drop(tx);
        // The consumer stops early (leaving items inside) when `stop_after`
        // is set; producers then need room, so it keeps popping until they
        // are done but only counts up to the stop point.
        let target = stop_after.map_or(total, |s| s.min(total));
        let mut next = vec![0u64; producers];
        let mut seen = 0usize;
        let mut check = |item: DropCounter| {
            let p = (item.id >> 32) as usize;
            let i = item.id & 0xffff_ffff;
            assert_eq!(next[p], i, "producer {p} out of order");
            next[p] += 1;
        };
        while seen < target {
            seen += rx.drain_into(batch.min(target - seen), &mut check);
            if rx.is_empty() {
                thread::yield_now();
            }
        }
        // Whatever producers still have to push needs room: keep at most
        // `cap` items inside by popping the overflow.
        while handles.iter().any(|h| !h.is_finished()) {
            if rx.len() == cap {
                seen += rx.drain_into(1, &mut check);
            }
            thread::yield_now();
        }
        for h in handles {
            h.join().unwrap()?;
        }
        let left = rx.len();
        prop_assert_eq!(seen + left, total);
        prop_assert_eq!(drops.load(StdOrdering::SeqCst), seen);
        drop(rx);
        prop_assert_eq!(drops.load(StdOrdering::SeqCst), total);
        if stop_after.is_none() {
            prop_assert_eq!(left, 0);
            for (p, &count) in per_producer.iter().enumerate() {
                prop_assert_eq!(next[p], count as u64);
            }
        }
    }
}

//! Loom model checks: 2 producers, 1 consumer, capacity 2.
//!
//! Run with
//! `cargo test -p peregrine-sequencer --features loom --release --lib ring::loom`.

use std::collections::HashSet;

use loom::sync::Arc as LoomArc;
use loom::sync::atomic::{AtomicUsize as LoomAtomicUsize, Ordering as LoomOrdering};
use loom::thread;

use super::{Producer, channel};

/// Model builder with a preemption bound (4 unless `LOOM_MAX_PREEMPTIONS` is
/// set) so every model finishes in seconds.
fn check(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(4);
    }
    builder.check(f);
}

/// Item tagged with its producer and its per-producer index.
type Item = (usize, usize);

/// Pushes `(producer, 0..count)` once each without retrying; returns the
/// accepted items (a rejected one must come back unchanged).
fn push_each(tx: &Producer<Item>, producer: usize, count: usize) -> Vec<Item> {
    let mut accepted = Vec::new();
    for i in 0..count {
        match tx.try_push((producer, i)) {
            Ok(()) => accepted.push((producer, i)),
            Err(full) => assert_eq!(full.into_inner(), (producer, i)),
        }
    }
    accepted
}

/// 2 producers race a concurrent consumer on a capacity-2 ring that fills up:
/// every accepted item is popped exactly once (nothing lost, nothing
/// duplicated, nothing rejected sneaks in), each producer's items come out in
/// push order, and pushes are rejected only when the ring is really full.
///
/// No thread spins (the consumer makes a fixed number of attempts while the
/// producers run, then drains after joining), so the model stays finite
/// without a branch limit.
#[test]
fn two_producers_one_consumer_exactly_once_fifo() {
    check(|| {
        let (tx, mut rx) = channel::<Item>(2).unwrap();
        let tx2 = tx.clone();
        let p0 = thread::spawn(move || push_each(&tx, 0, 3));
        let p1 = thread::spawn(move || push_each(&tx2, 1, 2));

        let mut got = Vec::new();
        for _ in 0..2 {
            if let Some(item) = rx.try_pop() {
                got.push(item);
            }
        }
        let popped_concurrently = got.len();
        let mut accepted = p0.join().unwrap();
        accepted.extend(p1.join().unwrap());
        rx.drain_into(usize::MAX, |item| got.push(item));
        assert!(rx.is_empty());

        // Full reported correctly: the first `capacity` pushes always fit, and
        // no push fits beyond `capacity` plus what was popped meanwhile.
        assert!(accepted.len() >= 2, "rejected while not full: {accepted:?}");
        assert!(
            accepted.len() <= 2 + popped_concurrently,
            "overshoot: {accepted:?}"
        );
        // Exactly once.
        let unique: HashSet<_> = got.iter().copied().collect();
        assert_eq!(unique.len(), got.len(), "duplicate in {got:?}");
        let accepted_set: HashSet<_> = accepted.iter().copied().collect();
        assert_eq!(unique, accepted_set, "lost or phantom item in {got:?}");
        // Per-producer FIFO.
        for producer in 0..2 {
            let order: Vec<_> = got.iter().filter(|(p, _)| *p == producer).collect();
            assert!(
                order.windows(2).all(|w| w[0].1 < w[1].1),
                "FIFO broken in {got:?}"
            );
        }
    });
}

/// Same race, but producers retry a full ring (yielding in between) and the
/// consumer polls several times: a retry succeeds once the consumer made room,
/// and still nothing is lost, duplicated or reordered.
///
/// Retries and polls are bounded: loom cannot tell an unbounded yield loop
/// from a livelock (one thread may be scheduled forever while the other only
/// yields), so an open-ended retry loop exceeds any branch limit.
#[test]
fn bounded_retries_deliver_in_order() {
    check(|| {
        let (tx, mut rx) = channel::<Item>(2).unwrap();
        let tx2 = tx.clone();
        let push_retrying = |tx: Producer<Item>, producer: usize, count: usize| {
            thread::spawn(move || {
                let mut accepted = Vec::new();
                for i in 0..count {
                    let mut item = (producer, i);
                    for _attempt in 0..2 {
                        match tx.try_push(item) {
                            Ok(()) => {
                                accepted.push((producer, i));
                                break;
                            }
                            Err(full) => {
                                item = full.into_inner();
                                thread::yield_now();
                            }
                        }
                    }
                }
                accepted
            })
        };
        let p0 = push_retrying(tx, 0, 2);
        let p1 = push_retrying(tx2, 1, 1);
        let mut got = Vec::new();
        for _poll in 0..2 {
            if rx.drain_into(2, |item| got.push(item)) == 0 {
                thread::yield_now();
            }
        }
        let mut accepted = p0.join().unwrap();
        accepted.extend(p1.join().unwrap());
        rx.drain_into(usize::MAX, |item| got.push(item));
        assert_eq!(rx.try_pop(), None);

        let mut sorted = got.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), got.len(), "duplicate in {got:?}");
        accepted.sort_unstable();
        assert_eq!(sorted, accepted, "lost or phantom item in {got:?}");
        for producer in 0..2 {
            let order: Vec<_> = got.iter().filter(|(p, _)| *p == producer).collect();
            assert!(
                order.windows(2).all(|w| w[0].1 < w[1].1),
                "FIFO broken in {got:?}"
            );
        }
    });
}

/// Without a consumer, exactly `capacity` of the concurrent pushes succeed,
/// the others get their value back, and the ring pops exactly the accepted
/// ones in per-producer order.
#[test]
fn full_ring_is_reported_exactly() {
    check(|| {
        let (tx, mut rx) = channel::<Item>(2).unwrap();
        let spawn = |producer: usize, tx: Producer<Item>| {
            thread::spawn(move || {
                let mut accepted = Vec::new();
                for i in 0..2 {
                    match tx.try_push((producer, i)) {
                        Ok(()) => accepted.push((producer, i)),
                        Err(full) => assert_eq!(full.into_inner(), (producer, i)),
                    }
                }
                accepted
            })
        };
        let p0 = spawn(0, tx.clone());
        let p1 = spawn(1, tx.clone());
        let mut accepted = p0.join().unwrap();
        accepted.extend(p1.join().unwrap());
        assert_eq!(accepted.len(), 2, "capacity 2 must accept exactly 2");
        assert_eq!(tx.len(), 2);
        // Once full (no consumer) a later push must fail: no overshoot.
        assert!(tx.try_push((9, 9)).is_err());

        let mut popped = Vec::new();
        while let Some(item) = rx.try_pop() {
            popped.push(item);
        }
        let mut sorted_popped = popped.clone();
        sorted_popped.sort_unstable();
        accepted.sort_unstable();
        assert_eq!(sorted_popped, accepted);
        for producer in 0..2 {
            let order: Vec<_> = popped.iter().filter(|(p, _)| *p == producer).collect();
            assert!(order.windows(2).all(|w| w[0].1 < w[1].1), "{popped:?}");
            // A producer's first push can only fail if its second fails too.
            if !order.is_empty() {
                assert_eq!(order[0].1, 0, "{popped:?}");
            }
        }
    });
}

/// A push racing a pop on a full ring: a failure means the ring really was
/// full (nothing is lost either way), and the cell handoff between the
/// consumer's read and the producer's overwrite is race-free (loom checks the
/// `UnsafeCell` accesses).
#[test]
fn push_racing_pop_on_full_ring() {
    check(|| {
        let (tx, mut rx) = channel::<Item>(2).unwrap();
        tx.try_push((0, 0)).unwrap();
        tx.try_push((0, 1)).unwrap();
        let tx2 = tx.clone();
        let producer = thread::spawn(move || tx2.try_push((1, 0)).is_ok());
        let first = rx.try_pop();
        let pushed = producer.join().unwrap();
        assert_eq!(first, Some((0, 0)));

        let mut rest = Vec::new();
        while let Some(item) = rx.try_pop() {
            rest.push(item);
        }
        if pushed {
            assert_eq!(rest, [(0, 1), (1, 0)]);
        } else {
            assert_eq!(rest, [(0, 1)]);
        }
    });
}

/// Items still inside when the last handle goes away are dropped exactly
/// once, whichever thread drops last.
#[test]
fn remaining_items_dropped_once() {
    struct Counted(LoomArc<LoomAtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, LoomOrdering::Relaxed);
        }
    }

    check(|| {
        let drops = LoomArc::new(LoomAtomicUsize::new(0));
        let (tx, mut rx) = channel::<Counted>(2).unwrap();
        let tx2 = tx.clone();
        let d = drops.clone();
        let producer = thread::spawn(move || {
            let _ = tx2.try_push(Counted(d.clone()));
            let _ = tx2.try_push(Counted(d));
        });
        let _ = tx.try_push(Counted(drops.clone()));
        drop(tx);
        drop(rx.try_pop());
        drop(rx);
        producer.join().unwrap();
        // 3 values were created; each is dropped exactly once: by the pop, by
        // a failed push's error, or by the ring's teardown.
        assert_eq!(drops.load(LoomOrdering::Relaxed), 3);
    });
}

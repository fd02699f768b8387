//! Where the sequencer loop allocates: runs the loop over transfers with a global
//! allocator that captures a backtrace for each allocation made on the loop's thread, and
//! prints the call sites, most frequent first. A diagnostic for the zero-allocation goal
//! (`tests/alloc_per_tx.rs` counts; this names).
//!
//! `cargo run --release -p peregrine-sequencer --example alloc_sites -- [txs] [max-mini-block-txs]`

#![allow(unsafe_code)] // a global allocator is unsafe by definition; it only wraps `System`

use alloy_primitives::{Address, U256};
use peregrine_sequencer::{
    GenesisSpec, SequencerConfig,
    genesis::dev_mnemonic_signers,
    testing::{draining_loop, drop_elsewhere, transfers_in_ring},
};
use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

static TRACING: AtomicBool = AtomicBool::new(false);
static SITES: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

thread_local! {
    static TRACED_THREAD: Cell<bool> = const { Cell::new(false) };
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

struct Tracer;

fn record() {
    if !TRACING.load(Ordering::Relaxed) || !TRACED_THREAD.with(Cell::get) || INSIDE.with(Cell::get)
    {
        return;
    }
    INSIDE.with(|i| i.set(true));
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    // Keep the frames of interest: ours and revm's/alloy's, skipping the allocator's own.
    let site: Vec<&str> = trace
        .lines()
        .filter(|l| !l.trim_start().starts_with("at "))
        .filter(|l| {
            (l.contains("peregrine") || l.contains("revm") || l.contains("alloy"))
                && !l.contains("alloc_sites")
        })
        .take(6)
        .map(str::trim)
        .collect();
    let key = site.join("\n    <- ");
    if let Ok(mut sites) = SITES.lock() {
        *sites
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_default() += 1;
    }
    INSIDE.with(|i| i.set(false));
}

// SAFETY: every call is forwarded to `System` with the same arguments; `record` only
// reads thread-locals and, guarded against re-entry, allocates through this allocator.
unsafe impl GlobalAlloc for Tracer {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracer = Tracer;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let max: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let signer = dev_mnemonic_signers().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SequencerConfig::new(dir.path().to_path_buf());
    cfg.ring_capacity = (n as usize + 1).next_power_of_two();
    cfg.chain_queue = 2 * n as usize + 16;
    cfg.max_mini_block_txs = max;
    let genesis = GenesisSpec::dev(0, U256::from(10u64).pow(U256::from(24)));
    let consumer = transfers_in_ring(
        &signer,
        cfg.chain_id,
        cfg.ring_capacity,
        n,
        Address::repeat_byte(0x77),
    );
    let (looper, received) = draining_loop(cfg, genesis.state(), consumer);
    // Dropped on another thread while the loop runs, as in the node: buffers come back.
    let dropper = drop_elsewhere(received);
    TRACED_THREAD.with(|t| t.set(true));
    TRACING.store(true, Ordering::Relaxed);
    looper.run();
    TRACING.store(false, Ordering::Relaxed);
    dropper
        .join()
        .expect("the dropping thread ends with the loop");
    let sites = SITES.lock().unwrap().take().unwrap_or_default();
    let mut sites: Vec<_> = sites.into_iter().collect();
    sites.sort_by_key(|s| std::cmp::Reverse(s.1));
    let total: usize = sites.iter().map(|s| s.1).sum();
    println!(
        "{total} allocations for {n} transfers, at most {max} per mini-block ({:.2} per transaction)\n",
        total as f64 / n as f64
    );
    for (site, count) in sites.iter().take(12) {
        println!("{count:>7}  {site}\n");
    }
}

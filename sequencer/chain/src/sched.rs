//! The chain service thread's scheduling: a lower priority and a short time slice, so a
//! block seal (~20 ms of CPU at 1 000 transactions) gives way to the promise path's
//! threads where cores are short.
//!
//! Linux's EEVDF scheduler lets a running thread finish its time slice (1.4 ms by default
//! on a 2-core machine) before a thread that just woke up may take the core. A nice value
//! alone does not shorten that: traced with `perf` on 2 cores, RPC threads woke during a
//! seal and waited up to 1.7 ms. A custom slice (`sched_setattr` with `sched_runtime`,
//! Linux 6.12 and later) of [`CHAIN_SERVICE_SLICE`] bounds that wait by 0.1 ms. Older
//! kernels ignore or refuse it; then only the nice value applies.
//!
//! libc has `struct sched_attr` but, like rustix and nix, no wrapper for the system call,
//! so this module makes it (hence its `unsafe`).
#![allow(unsafe_code)]

use std::time::Duration;

/// The chain service's time slice: the shortest the kernel accepts.
pub const CHAIN_SERVICE_SLICE: Duration = Duration::from_micros(100);

/// Sets the calling thread's nice value and, where the kernel supports custom slices, its
/// time slice. Each refusal (a negative nice without `CAP_SYS_NICE`; a kernel without
/// custom slices) is logged, not fatal.
pub fn deprioritize_current_thread(nice: i32, slice: Duration) {
    let attr = libc::sched_attr {
        size: std::mem::size_of::<libc::sched_attr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_flags: 0,
        sched_nice: nice,
        sched_priority: 0,
        sched_runtime: slice.as_nanos() as u64,
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: `attr` is a live, initialized `struct sched_attr` whose `size` field says how
    // much of it the kernel may read; pid 0 is the calling thread; flags 0. The kernel only
    // reads from the pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            &attr as *const libc::sched_attr,
            0u32,
        )
    };
    if rc == 0 {
        tracing::debug!(
            nice,
            slice_us = slice.as_micros() as u64,
            "chain service thread priority and time slice set"
        );
        return;
    }
    let error = std::io::Error::last_os_error();
    tracing::warn!(
        %error,
        slice_us = slice.as_micros() as u64,
        "cannot set the chain service thread's time slice; setting its nice value only"
    );
    set_current_thread_nice(nice);
}

/// Sets the calling thread's nice value (Linux keeps one per thread).
fn set_current_thread_nice(nice: i32) {
    let tid = rustix::thread::gettid();
    match rustix::process::setpriority_process(Some(tid), nice) {
        Ok(()) => tracing::debug!(nice, "chain service thread priority set"),
        Err(e) => {
            tracing::warn!(nice, error = %e, "cannot set the chain service thread's nice value")
        }
    }
}

/// Checks that `nice` is a Linux nice value (-20..=19); `key` names the setting.
pub fn check_nice(key: &str, nice: i32) -> Result<(), String> {
    if (-20..=19).contains(&nice) {
        return Ok(());
    }
    Err(format!("{key} must be in -20..=19, got {nice}"))
}

/// Checks that `core`, when set, is one this process may run on; `key` names the setting.
pub fn check_core(key: &str, core: Option<usize>) -> Result<(), String> {
    let Some(core) = core else { return Ok(()) };
    let available = core_affinity::get_core_ids().unwrap_or_default();
    if available.iter().any(|c| c.id == core) {
        return Ok(());
    }
    Err(format!(
        "{key} = {core} is not an available core (available: {:?})",
        available.iter().map(|c| c.id).collect::<Vec<_>>()
    ))
}

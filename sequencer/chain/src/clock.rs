//! The wall clock, as the node stamps promises and blocks with it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (vDSO clock, no syscall).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or_default()
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    now_us() / 1_000_000
}

//! How the consumer idles while the ring is empty.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::error::ParseWaitStrategyError;
use super::sync::{park_timeout, spin_loop, yield_now};

/// Park timeout used when a strategy is parsed from `"park"`: 50 µs.
pub const DEFAULT_PARK_TIMEOUT: Duration = Duration::from_micros(50);

/// How long a `yield` waiter sleeps per idle step while the chain service seals a block
/// (see [`crate::node`]'s `sealing` flag): short enough that a transaction waits a few
/// tens of µs more, long enough that the threads a promise needs get the cores.
pub const SEALING_PARK: Duration = Duration::from_micros(20);

/// Consumer-side idling policy between empty polls.
///
/// Producers never wake the consumer (the push path stays free of syscalls),
/// so every strategy is a bounded pause followed by another poll.
///
/// Parses from `"busy-spin"`, `"yield"` or `"park"` (the latter with
/// [`DEFAULT_PARK_TIMEOUT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WaitStrategy {
    /// Spin on the CPU with [`std::hint::spin_loop`]: lowest latency, burns a
    /// full core.
    BusySpin,
    /// Give the time slice away with [`std::thread::yield_now`]: low latency,
    /// still busy but friendly to other runnable threads.
    #[default]
    Yield,
    /// Sleep with [`std::thread::park_timeout`] for at most this long per idle
    /// step (nobody unparks the consumer; this just bounds the sleep).
    Park(Duration),
}

impl WaitStrategy {
    /// The strategy to idle with while the chain service is (or is not) sealing a block:
    /// `yield` becomes `park` in [`SEALING_PARK`] steps during a seal, so polling threads
    /// leave the cores to the threads a promise needs; the others are unchanged.
    #[inline]
    pub fn while_sealing(self, sealing: bool) -> Self {
        match self {
            Self::Yield if sealing => Self::Park(SEALING_PARK),
            other => other,
        }
    }

    /// Performs one idle step. `budget` (time left until a deadline, if any)
    /// caps the park duration; spinning and yielding ignore it.
    #[inline]
    pub fn idle(&self, budget: Option<Duration>) {
        match *self {
            Self::BusySpin => spin_loop(),
            Self::Yield => yield_now(),
            Self::Park(max) => park_timeout(budget.map_or(max, |b| b.min(max))),
        }
    }

    /// The canonical name accepted by [`FromStr`].
    pub fn name(&self) -> &'static str {
        match self {
            Self::BusySpin => "busy-spin",
            Self::Yield => "yield",
            Self::Park(_) => "park",
        }
    }
}

impl FromStr for WaitStrategy {
    type Err = ParseWaitStrategyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "busy-spin" => Ok(Self::BusySpin),
            "yield" => Ok(Self::Yield),
            "park" => Ok(Self::Park(DEFAULT_PARK_TIMEOUT)),
            _ => Err(ParseWaitStrategyError {
                input: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for WaitStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Park(d) => write!(f, "park({d:?})"),
            other => f.write_str(other.name()),
        }
    }
}

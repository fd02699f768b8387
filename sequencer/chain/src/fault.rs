//! A part of the node that fails for good: recorded once, intake stopped, the thread ended.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// The first fatal failure of any part of the node: set once, by the part that failed,
/// which then stops intake and its own thread. Shared by every core thread.
pub type Fault = Arc<std::sync::OnceLock<String>>;

/// Records `why` as the node's fault, stops intake, and ends the calling thread by
/// unwinding, without the panic hook's report: the cause is logged once, by whoever
/// watches [`Liveness::fault`] (the `peregrine` binary), not by every layer.
pub fn fail_thread(fault: &Fault, stop: &AtomicBool, why: String) -> ! {
    let _ = fault.set(why.clone());
    stop.store(true, Ordering::Release);
    std::panic::resume_unwind(Box::new(why))
}

//! `eth_call` and `eth_estimateGas` run on a bounded pool of their own threads.
//!
//! A call may run the EVM for seconds (a 50 M-gas loop is ~1.8 s here). On jsonrpsee's
//! blocking pool (up to 512 threads at normal priority) sixteen of them took both cores
//! from ingress and the RPC threads. Here at most `rpc.call-threads` run at once, each at
//! nice `rpc.call-nice` with a short time slice (as the chain service), so a transaction
//! or a `pending` read never waits behind one; at most `rpc.call-queue` more wait for a
//! thread, and beyond that a call is answered `-32005`. Each call also stops at
//! `rpc.evm-timeout` (see `call.rs`).

use crate::error::{RpcError, RpcResult};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

/// The pool (cheap to clone: a channel sender).
#[derive(Debug, Clone)]
pub(crate) struct CallPool {
    jobs: crossbeam_channel::Sender<Job>,
    queue: usize,
}

impl CallPool {
    /// Starts `threads` threads at nice `nice`; they end when the last handle is dropped.
    pub(crate) fn start(threads: usize, queue: usize, nice: i32) -> Self {
        let (jobs, incoming) = crossbeam_channel::bounded::<Job>(queue);
        for i in 0..threads.max(1) {
            let incoming = incoming.clone();
            std::thread::Builder::new()
                .name(format!("peregrine-call-{i}"))
                .spawn(move || {
                    if nice != 0 {
                        peregrine_chain::sched::deprioritize_current_thread(
                            nice,
                            Duration::from_micros(100),
                        );
                    }
                    for job in incoming {
                        // A panic (a bug) must not take the thread with it: the caller
                        // is answered an error when the job's sender drops.
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            tracing::error!("a call panicked; see the message above");
                        }
                    }
                })
                .expect("spawn a call thread");
        }
        Self { jobs, queue }
    }

    /// Runs `f` on the pool; `-32005` if the queue is full.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> RpcResult<T> + Send + 'static,
    ) -> RpcResult<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller may have gone (connection closed): nothing to tell.
            let _ = done.send(f());
        });
        self.jobs.try_send(job).map_err(|_| {
            RpcError::LimitExceeded(format!(
                "too many calls: {} are waiting for the call threads (rpc.call-queue)",
                self.queue
            ))
        })?;
        result.await.map_err(|_| {
            RpcError::Execution("the call failed inside the node (a bug; see its log)".into())
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    #[tokio::test]
    async fn at_most_threads_run_and_queue_wait_then_the_rest_is_refused() {
        let pool = CallPool::start(1, 1, 0);
        let release = Arc::new(Barrier::new(2));
        let hold = release.clone();
        let running = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move || Ok(hold.wait().is_leader())).await }
        });
        // Let the first job reach the thread, then fill the queue's one place.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|| Ok(7)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused = pool.run(|| Ok(8)).await.unwrap_err();
        assert!(refused.to_string().contains("rpc.call-queue"), "{refused}");
        release.wait();
        running.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap().unwrap(), 7);
    }
}

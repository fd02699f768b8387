//! The measured phase: dispatching, sending, observing confirmations, draining.
//!
//! ```text
//!  open loop:   pacer thread ── at i/rate ──┐
//!  closed loop: a finish refills ───────────┤
//!                                           ▼
//!                      Engine::dispatch ─▶ per-account gate (sync only) ─▶ route
//!                                                                          │
//!               ┌─────────────── ws: writer task of connection a mod C ◀───┤
//!               │                http: worker task of connection a mod C ◀─┘
//!               ▼
//!             node ──▶ response ──▶ Engine::on_tx_response ─┐
//!                  ──▶ preconfirmation notification ────────┤──▶ Tracker (slot i)
//!                  ◀── receipt poller (send poll) ──────────┘        │ first finish
//!                                                                    ▼
//!                                                    after_finish: gate / closed-loop refill
//! ```
//!
//! Transactions of one account always go through the same connection, in nonce order. With
//! `--send sync` an account has at most one transaction in flight: a second one could reach
//! the node first (the server handles messages concurrently) and be answered as a nonce gap.

use crate::{
    config::{LoadConfig, Mode, SendMethod, Transport},
    error::{LoadError, LoadResult, RpcFailure},
    progress::Progress,
    report::StalledSummary,
    rpc::{Arrival, Client, FrameSink, HttpConn, WsConn, wire},
    setup::ReceiptLite,
    stalled::Stalled,
    tracker::{Clock, Stamps, Tracker},
    workload::Workload,
};
use alloy_primitives::{Address, B256, U64};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::{json, value::RawValue};
use std::{
    collections::VecDeque,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

/// Up to this rate the pacer sleeps to just before each send and yields for the rest, for
/// send times within a few µs of the schedule. Above it, gaps are too short to sleep in: it
/// sleeps to each due time and sends everything due (lag is reported as `send_lag_us`).
pub(crate) const PRECISE_PACING_MAX_RATE: f64 = 5_000.0;
/// How long before a due time the pacer stops sleeping (Linux oversleeps by ~50 µs).
const PACER_SPIN: Duration = Duration::from_micros(80);
/// Most receipts asked for in one polling batch.
const POLL_BATCH: usize = 1000;
/// How often the main task refreshes the progress bar and checks for the end.
const TICK: Duration = Duration::from_millis(50);
/// Default HTTP connections of a closed loop: one per transaction in flight, up to this.
const MAX_DEFAULT_HTTP_CONNECTIONS: usize = 256;
/// Sent to an HTTP worker after the drain: ends it (and its reference to the engine).
const STOP_WORKER: u32 = u32::MAX;
/// After Ctrl-C, how long to wait for transactions in flight.
const INTERRUPTED_DRAIN: Duration = Duration::from_secs(2);

/// What [`execute`] needs besides the configuration.
pub(crate) struct RunSpec<'a> {
    pub(crate) cfg: &'a LoadConfig,
    pub(crate) send: SendMethod,
    pub(crate) addresses: &'a [Address],
    pub(crate) workload: Arc<Workload>,
}

/// What the measured phase leaves for the statistics.
pub(crate) struct RunOutcome {
    pub(crate) engine: Arc<Engine>,
    pub(crate) connections: usize,
    /// When dispatching stopped, ns since the start.
    pub(crate) dispatch_end_ns: u64,
    /// Every dispatched transaction finished before the drain timeout.
    pub(crate) drained: bool,
    pub(crate) interrupted: bool,
    /// What the stalled subscribers saw, when the run had any.
    pub(crate) stalled: Option<StalledSummary>,
    /// The replica's lag, with `--replica`.
    pub(crate) replica_lag: Option<crate::report::ReplicaLagSummary>,
}

#[derive(Debug, Default)]
struct Gate {
    busy: bool,
    queue: VecDeque<u32>,
}

struct ClosedLoop {
    next: AtomicU64,
    count: u64,
    deadline_ns: u64,
}

enum Routes {
    Ws(Vec<WsConn>),
    Http(Vec<mpsc::UnboundedSender<u32>>),
}

/// Shared state of the measured phase.
pub(crate) struct Engine {
    pub(crate) tracker: Tracker,
    pub(crate) workload: Arc<Workload>,
    send: SendMethod,
    routes: Routes,
    gates: Option<Box<[Mutex<Gate>]>>,
    closed: Option<ClosedLoop>,
    stop: AtomicBool,
    poll_queue: Option<mpsc::UnboundedSender<u32>>,
    pub(crate) notes: Mutex<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyncReceipt {
    #[serde(default)]
    status: Option<U64>,
    #[serde(default)]
    preconfirmation: Option<PreconfTimes>,
}

#[derive(Deserialize)]
struct PreconfTimes {
    #[serde(default)]
    timestamps: Option<Stamps>,
}

#[derive(Deserialize)]
struct Notification<'a> {
    #[serde(borrow)]
    params: NotificationParams<'a>,
}

#[derive(Deserialize)]
struct NotificationParams<'a> {
    #[serde(default)]
    result: Option<PreconfItem>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PreconfItem {
    transaction_hash: B256,
    #[serde(default)]
    timestamps: Option<Stamps>,
    #[serde(default)]
    receipt: Option<PreconfReceipt>,
}

#[derive(Deserialize)]
struct PreconfReceipt {
    #[serde(default = "yes")]
    success: bool,
}

fn yes() -> bool {
    true
}

impl Engine {
    fn note(&self, text: String) {
        let mut notes = self.notes.lock();
        if !notes.contains(&text) && notes.len() < 100 {
            notes.push(text);
        }
    }

    fn account(&self, i: u32) -> usize {
        self.workload.txs[i as usize].account as usize
    }

    /// Hands transaction `i` to its sender; latency counts from `intended_ns`.
    fn dispatch(&self, i: u32, intended_ns: u64) {
        self.tracker.dispatched(i, intended_ns);
        let a = self.account(i);
        if let Some(gates) = &self.gates {
            let mut g = gates[a].lock();
            if g.busy {
                g.queue.push_back(i);
                return;
            }
            g.busy = true;
        }
        self.route(i, a);
    }

    fn route(&self, i: u32, a: usize) {
        let ok = match &self.routes {
            Routes::Ws(conns) => conns[a % conns.len()].send_tx(i),
            Routes::Http(workers) => workers[a % workers.len()].send(i).is_ok(),
        };
        if !ok {
            // The connection is gone; nothing more can be sent on it. Finishing this one
            // would refill from the same dead route, so stop instead.
            self.tracker.failed(
                i,
                Instant::now(),
                &RpcFailure::Transport("connection closed".into()),
            );
            self.stop.store(true, Ordering::Release);
        }
    }

    /// After a transaction's first finish: free its account's gate, refill the closed loop.
    fn after_finish(&self, i: u32) {
        if let Some(gates) = &self.gates {
            let a = self.account(i);
            let next = {
                let mut g = gates[a].lock();
                let n = g.queue.pop_front();
                if n.is_none() {
                    g.busy = false;
                }
                n
            };
            if let Some(n) = next {
                self.route(n, a);
            }
        }
        self.refill();
    }

    /// Closed loop: dispatches the next transaction unless the run is over.
    fn refill(&self) -> bool {
        let Some(cl) = &self.closed else {
            return false;
        };
        if self.stop.load(Ordering::Acquire) {
            return false;
        }
        let now = self.tracker.clock.now_ns();
        if now >= cl.deadline_ns {
            return false;
        }
        let n = cl.next.fetch_add(1, Ordering::Relaxed);
        if n >= cl.count {
            return false;
        }
        self.dispatch(n as u32, now);
        true
    }

    fn closed_loop_over(&self) -> bool {
        let Some(cl) = &self.closed else {
            return true;
        };
        self.stop.load(Ordering::Acquire)
            || cl.next.load(Ordering::Relaxed) >= cl.count
            || self.tracker.clock.now_ns() >= cl.deadline_ns
    }

    fn finish_failed(&self, i: u32, at: Instant, failure: &RpcFailure) {
        if self.tracker.failed(i, at, failure) {
            self.after_finish(i);
        }
    }

    fn finish_done(&self, i: u32, at: Arrival, stamps: Option<Stamps>, succeeded: bool) {
        if self
            .tracker
            .completed(i, at.at, at.epoch_us, stamps, succeeded)
        {
            self.after_finish(i);
        }
    }

    fn handle_response(&self, i: u32, msg: &[u8], at: Arrival) {
        if i as usize >= self.tracker.len() {
            return;
        }
        match self.send {
            SendMethod::Async | SendMethod::Poll => match wire::parse_response::<B256>(msg) {
                Ok(_) => {
                    self.tracker.accepted(i);
                    if let Some(q) = &self.poll_queue {
                        let _ = q.send(i);
                    }
                }
                Err(f) => self.finish_failed(i, at.at, &f),
            },
            SendMethod::Sync => match wire::parse_response::<SyncReceipt>(msg) {
                Ok(r) => {
                    let ok = r.status.is_none_or(|s| s == U64::from(1));
                    let stamps = r.preconfirmation.and_then(|p| p.timestamps);
                    self.finish_done(i, at, stamps, ok);
                }
                Err(f) => self.finish_failed(i, at.at, &f),
            },
        }
    }

    fn handle_notification(&self, msg: &[u8], at: Arrival) {
        let n: Notification<'_> = match serde_json::from_slice(msg) {
            Ok(n) => n,
            Err(e) => {
                self.note(format!("unreadable notification: {e}"));
                return;
            }
        };
        if let Some(err) = n.params.error {
            self.note(format!(
                "the preconfirmations subscription was closed by the node: {}",
                err.get()
            ));
            self.stop.store(true, Ordering::Release);
            return;
        }
        let Some(item) = n.params.result else {
            return;
        };
        let Some(&i) = self
            .workload
            .by_hash
            .as_ref()
            .and_then(|m| m.get(&item.transaction_hash))
        else {
            return; // someone else's transaction
        };
        let ok = item.receipt.is_none_or(|r| r.success);
        self.finish_done(i, at, item.timestamps, ok);
    }
}

impl FrameSink for Engine {
    fn payload(&self, idx: u32) -> &[u8] {
        &self.workload.txs[idx as usize].request
    }

    fn on_sent(&self, idx: u32, at: Instant) {
        self.tracker.sent(idx, at);
    }

    fn on_tx_response(&self, idx: u32, msg: &[u8], at: Arrival) {
        self.handle_response(idx, msg, at);
    }

    fn on_notification(&self, msg: &[u8], at: Arrival) {
        self.handle_notification(msg, at);
    }

    fn on_closed(&self, conn: usize, why: &str, unsent: Vec<u32>) {
        self.note(format!("connection {conn} closed during the run: {why}"));
        self.stop.store(true, Ordering::Release);
        let now = Instant::now();
        for i in unsent {
            self.tracker
                .failed(i, now, &RpcFailure::Transport("connection closed".into()));
        }
    }
}

/// Sleeps (then yields) until `due_ns` on `clock`; `false` if the run was stopped.
fn wait_until(clock: &Clock, due_ns: u64, precise: bool, stop: &AtomicBool) -> bool {
    let spin = PACER_SPIN.as_nanos() as u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = clock.now_ns();
        if now >= due_ns {
            return true;
        }
        let left = due_ns - now;
        if !precise {
            std::thread::sleep(Duration::from_nanos(left));
        } else if left > spin {
            std::thread::sleep(Duration::from_nanos(left - spin));
        } else {
            std::thread::yield_now();
        }
    }
}

/// The open-loop pacer (its own thread): transaction `i` is due at `i / rate`.
fn pace(engine: &Engine, rate: f64, count: u64) {
    let interval = 1e9 / rate;
    let precise = rate <= PRECISE_PACING_MAX_RATE;
    let clock = engine.tracker.clock;
    for i in 0..count {
        let due = (i as f64 * interval) as u64;
        if !wait_until(&clock, due, precise, &engine.stop) {
            return;
        }
        engine.dispatch(i as u32, due);
    }
}

async fn http_worker(
    engine: Arc<Engine>,
    mut rx: mpsc::UnboundedReceiver<u32>,
    mut conn: HttpConn,
    cfg_endpoint: crate::config::Endpoint,
) {
    let mut body = Vec::with_capacity(16 * 1024);
    while let Some(i) = rx.recv().await {
        if i == STOP_WORKER {
            return;
        }
        engine.tracker.sent(i, Instant::now());
        let result = conn
            .post(&engine.workload.txs[i as usize].request, &mut body)
            .await;
        let at = Arrival::now();
        let reconnect = match result {
            Ok(()) => {
                engine.handle_response(i, &body, at);
                conn.is_closing()
            }
            Err(e) => {
                engine.finish_failed(i, at.at, &RpcFailure::Transport(e.to_string()));
                true
            }
        };
        if reconnect {
            match HttpConn::connect(&cfg_endpoint).await {
                Ok(c) => conn = c,
                Err(e) => {
                    engine.note(format!("HTTP reconnect failed: {e}"));
                    engine.stop.store(true, Ordering::Release);
                    let now = Instant::now();
                    while let Ok(i) = rx.try_recv() {
                        engine.finish_failed(i, now, &RpcFailure::Transport(e.to_string()));
                    }
                    return;
                }
            }
        }
    }
}

async fn poller(
    engine: Arc<Engine>,
    client: Client,
    mut rx: mpsc::UnboundedReceiver<u32>,
    interval: Duration,
    quit: Arc<AtomicBool>,
) {
    let mut pending: VecDeque<u32> = VecDeque::new();
    loop {
        while let Ok(i) = rx.try_recv() {
            pending.push_back(i);
        }
        if quit.load(Ordering::Acquire) {
            break;
        }
        if pending.is_empty() {
            match tokio::time::timeout(TICK, rx.recv()).await {
                Ok(Some(i)) => pending.push_back(i),
                Ok(None) => break,
                Err(_) => continue,
            }
        }
        let n = pending.len().min(POLL_BATCH);
        let batch: Vec<u32> = pending.drain(..n).collect();
        let params: Vec<_> = batch
            .iter()
            .map(|i| json!([engine.workload.txs[*i as usize].hash]))
            .collect();
        match client
            .batch::<Option<ReceiptLite>>("eth_getTransactionReceipt", &params)
            .await
        {
            Ok(results) => {
                let at = Arrival::now();
                for (i, r) in batch.into_iter().zip(results) {
                    match r {
                        Ok(Some(receipt)) => engine.finish_done(i, at, None, receipt.succeeded()),
                        _ => pending.push_back(i),
                    }
                }
            }
            Err(e) => {
                engine.note(format!("receipt polling failed: {e}"));
                pending.extend(batch);
            }
        }
        tokio::time::sleep(interval).await;
    }
    client.close();
}

/// Connections to open for this run.
pub(crate) fn connection_count(cfg: &LoadConfig) -> usize {
    let n = cfg
        .connections
        .unwrap_or(match (cfg.endpoint.transport, cfg.mode) {
            (Transport::Ws, _) => 1,
            (Transport::Http, Mode::Closed { concurrency }) => {
                concurrency.min(MAX_DEFAULT_HTTP_CONNECTIONS)
            }
            (Transport::Http, Mode::Open { .. }) => crate::config::DEFAULT_HTTP_CONNECTIONS,
        });
    n.clamp(1, cfg.accounts)
}

/// Runs the measured phase: connects, starts the clock, dispatches, drains.
pub(crate) async fn execute(spec: RunSpec<'_>, progress: &Progress) -> LoadResult<RunOutcome> {
    let cfg = spec.cfg;
    let ep = &cfg.endpoint;
    let n_conns = connection_count(cfg);
    let connect_err = |source| LoadError::Connect {
        url: ep.url.clone(),
        source,
    };
    let mut ws_conns = Vec::new();
    let mut http_conns = Vec::new();
    match ep.transport {
        Transport::Ws => {
            for c in 0..n_conns {
                ws_conns.push(WsConn::connect(ep, c).await.map_err(connect_err)?);
            }
        }
        Transport::Http => {
            for _ in 0..n_conns {
                http_conns.push(HttpConn::connect(ep).await.map_err(connect_err)?);
            }
        }
    }
    if spec.send == SendMethod::Async {
        for (c, conn) in ws_conns.iter().enumerate() {
            let params = if n_conns == 1 {
                json!(["preconfirmations"])
            } else {
                let from: Vec<_> = spec
                    .addresses
                    .iter()
                    .enumerate()
                    .filter(|(a, _)| a % n_conns == c)
                    .map(|(_, addr)| *addr)
                    .collect();
                json!(["preconfirmations", {"from": from}])
            };
            conn.subscribe(&params).await?;
        }
    }
    // Before the clock, so they are stalled from the first transaction on.
    let stalled = match cfg.stalled_subscribers {
        0 => None,
        n => Some(Stalled::open(ep, n).await?),
    };
    let replica_lag = match &cfg.replica {
        Some(replica) => Some(crate::replica_lag::ReplicaLag::open(ep, replica).await?),
        None => None,
    };
    let poll_client = if spec.send == SendMethod::Poll {
        Some(Client::connect(ep).await?)
    } else {
        None
    };
    let (poll_tx, poll_rx) = mpsc::unbounded_channel();
    let mut http_rxs = Vec::new();
    let routes = match ep.transport {
        Transport::Ws => Routes::Ws(ws_conns),
        Transport::Http => {
            let mut senders = Vec::new();
            for _ in 0..n_conns {
                let (tx, rx) = mpsc::unbounded_channel();
                senders.push(tx);
                http_rxs.push(rx);
            }
            Routes::Http(senders)
        }
    };

    let count = spec.workload.txs.len();
    let clock = Clock::start();
    let engine = Arc::new(Engine {
        tracker: Tracker::new(clock, count),
        workload: spec.workload.clone(),
        send: spec.send,
        routes,
        gates: (spec.send == SendMethod::Sync).then(|| {
            (0..cfg.accounts)
                .map(|_| Mutex::new(Gate::default()))
                .collect()
        }),
        closed: match cfg.mode {
            Mode::Closed { .. } => Some(ClosedLoop {
                next: AtomicU64::new(0),
                count: count as u64,
                deadline_ns: cfg.duration.as_nanos() as u64,
            }),
            Mode::Open { .. } => None,
        },
        stop: AtomicBool::new(false),
        poll_queue: poll_client.is_some().then_some(poll_tx),
        notes: Mutex::new(Vec::new()),
    });
    if let Routes::Ws(conns) = &engine.routes {
        for c in conns {
            c.bind(engine.clone());
        }
    }
    for (rx, conn) in http_rxs.into_iter().zip(http_conns) {
        tokio::spawn(http_worker(engine.clone(), rx, conn, ep.clone()));
    }
    let quit_poller = Arc::new(AtomicBool::new(false));
    let poller_task = poll_client.map(|client| {
        tokio::spawn(poller(
            engine.clone(),
            client,
            poll_rx,
            cfg.poll_interval,
            quit_poller.clone(),
        ))
    });
    let interrupted = Arc::new(AtomicBool::new(false));
    let ctrl_c = {
        let engine = engine.clone();
        let interrupted = interrupted.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, Ordering::Release);
                engine.stop.store(true, Ordering::Release);
            }
        })
    };

    // Dispatch.
    match cfg.mode {
        Mode::Open { rate } => {
            let e = engine.clone();
            let pacer = std::thread::Builder::new()
                .name("loadtest-pacer".into())
                .spawn(move || pace(&e, rate, count as u64))
                .map_err(|e| LoadError::Config(format!("cannot start the pacer thread: {e}")))?;
            while !pacer.is_finished() {
                tokio::time::sleep(TICK).await;
                progress.update(&engine.tracker);
            }
            let _ = pacer.join();
        }
        Mode::Closed { concurrency } => {
            for _ in 0..concurrency {
                if !engine.refill() {
                    break;
                }
            }
            while !engine.closed_loop_over() {
                tokio::time::sleep(TICK).await;
                progress.update(&engine.tracker);
            }
        }
    }
    let dispatch_end_ns = clock.now_ns();

    // Drain.
    let drain = if interrupted.load(Ordering::Acquire) {
        INTERRUPTED_DRAIN.min(cfg.drain_timeout)
    } else {
        cfg.drain_timeout
    };
    let deadline = Instant::now() + drain;
    let drained = loop {
        let (dispatched, finished, _, _) = engine.tracker.counts();
        if finished >= dispatched {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        progress.update(&engine.tracker);
    };
    engine.stop.store(true, Ordering::Release);
    progress.update(&engine.tracker);
    quit_poller.store(true, Ordering::Release);
    if let Some(t) = poller_task {
        let _ = t.await;
    }
    ctrl_c.abort();
    match &engine.routes {
        Routes::Ws(conns) => {
            for c in conns {
                c.unbind();
                c.close();
            }
        }
        Routes::Http(workers) => {
            for w in workers {
                let _ = w.send(STOP_WORKER);
            }
        }
    }
    if !drained {
        engine.note(format!(
            "{} transactions were still unconfirmed {} after dispatching ended (--drain-timeout)",
            engine.tracker.counts().0 - engine.tracker.counts().1,
            humantime::format_duration(drain)
        ));
    }
    if interrupted.load(Ordering::Acquire) {
        engine.note("interrupted (Ctrl-C): dispatching stopped early".into());
    }
    let stalled = match stalled {
        Some(s) => Some(s.finish().await),
        None => None,
    };
    let replica_lag = match replica_lag {
        Some(r) => Some(r.finish().await),
        None => None,
    };
    Ok(RunOutcome {
        engine,
        connections: n_conns,
        dispatch_end_ns,
        drained,
        interrupted: interrupted.load(Ordering::Acquire),
        stalled,
        replica_lag,
    })
}

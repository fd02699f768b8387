//! The replica's follow thread: one WebSocket subscription to the sequencer's replication
//! stream at a time. A reader thread receives each item and runs the checks that need no
//! position in the chain (signature, roots); the follow thread applies the results in
//! order, so on two cores the two halves of the work overlap.
//!
//! **Written by hand** over tungstenite, not with jsonrpsee's client: that client reads
//! the socket eagerly into a bounded buffer per subscription and drops the subscription
//! when the buffer is full ("lagged"), so a replica catching up, which applies slower than
//! the sequencer reads history, was cut off every few seconds. Reading one message at a
//! time leaves the rest in the socket: TCP holds the sequencer back instead (its
//! per-subscriber buffer waits for room, `rpc.slow-subscriber-timeout` per item).
//!
//! A refused item (a forgery, a gap, a replay: [`ApplyError::reason`]) is never applied:
//! the connection is dropped and the stream asked again, after a pause, from the same
//! place, so a replica fed bad data stays where it was and says why in its log and in
//! `peregrine_replica_rejected_total{reason}`. A block built here that differs from the
//! sequencer's signed seal, or a storage failure, stops the replica for good.

use crate::run::RunError;
use metrics::{counter, gauge, histogram};
use peregrine_chain::{
    apply::{Applier, ApplyError},
    clock::now_us,
    fault::Fault,
    follow::{Follower, Verified, verify},
    stream::{SealItem, StreamItem},
};
use serde::Deserialize;
use std::{
    io::ErrorKind,
    net::TcpStream,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

/// How often a blocked read looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// What the follow thread needs.
pub(crate) struct FollowConfig {
    /// The sequencer's WebSocket URL.
    pub url: String,
    /// The chain it builds.
    pub applier: Applier,
    /// First pause before reconnecting.
    pub reconnect_min: Duration,
    /// Longest pause.
    pub reconnect_max: Duration,
    /// Where a fatal failure is recorded.
    pub fault: Fault,
    /// Set to stop.
    pub stop: Arc<AtomicBool>,
}

/// The running follow thread.
pub(crate) struct FollowHandle {
    thread: std::thread::JoinHandle<()>,
}

impl FollowHandle {
    /// Waits for the thread to stop (after the stop signal) and its blocks to be durable.
    pub(crate) fn join(self) -> Result<(), RunError> {
        self.thread
            .join()
            .map_err(|_| RunError::Failed("the follow thread panicked".into()))
    }
}

/// Registers the replica's labelled series at zero, so they exist before their first event.
fn register_metrics() {
    for reason in peregrine_chain::apply::REASONS.iter().chain(&["malformed"]) {
        counter!("peregrine_replica_rejected_total", "reason" => *reason).absolute(0);
    }
    counter!("peregrine_replica_reconnects_total").absolute(0);
    gauge!("peregrine_replica_connected").set(0.0);
}

/// Starts the follow thread.
pub(crate) fn spawn(cfg: FollowConfig) -> Result<FollowHandle, RunError> {
    register_metrics();
    let thread = std::thread::Builder::new()
        .name("peregrine-follow".into())
        .spawn(move || {
            let fault = cfg.fault.clone();
            // A storage failure while applying ends this thread by unwinding, with the
            // cause already recorded in `fault`.
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| follow(cfg)));
            match run {
                Ok(Some(applier)) => {
                    if let Err(e) = applier.close() {
                        let _ = fault.set(format!("cannot make the last blocks durable: {e}"));
                    }
                }
                Ok(None) => {}
                Err(_) => {
                    let _ = fault.set("the follow thread panicked".into());
                }
            }
        })
        .map_err(RunError::Io)?;
    Ok(FollowHandle { thread })
}

/// How a connection ended.
enum End {
    /// Asked to stop.
    Stop,
    /// Try again after a pause.
    Retry(String),
    /// Never again.
    Fatal(String),
}

/// Follows until stopped (returning the applier) or failed (`None`, cause in `fault`).
fn follow(mut cfg: FollowConfig) -> Option<Applier> {
    let mut pause = cfg.reconnect_min;
    gauge!("peregrine_replica_connected").set(0.0);
    loop {
        if cfg.stop.load(Ordering::Acquire) {
            return Some(cfg.applier);
        }
        let before = cfg.applier.next_mini_block();
        let end = session(&mut cfg);
        gauge!("peregrine_replica_connected").set(0.0);
        match end {
            End::Stop => return Some(cfg.applier),
            End::Fatal(why) => {
                let _ = cfg.fault.set(why);
                return None;
            }
            End::Retry(why) => {
                if cfg.applier.next_mini_block() > before {
                    pause = cfg.reconnect_min;
                }
                tracing::warn!(sequencer = %cfg.url, reason = %why, retry_in = ?pause, next_mini_block = cfg.applier.next_mini_block(), "replication stream interrupted");
            }
        }
        counter!("peregrine_replica_reconnects_total").increment(1);
        let until = Instant::now() + pause;
        while Instant::now() < until {
            if cfg.stop.load(Ordering::Acquire) {
                return Some(cfg.applier);
            }
            std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
        }
        pause = (pause * 2).min(cfg.reconnect_max);
    }
}

/// A JSON-RPC message of the connection: the subscription's answer or a notification.
#[derive(Deserialize)]
struct Incoming {
    id: Option<u64>,
    result: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
    params: Option<Notification>,
}

#[derive(Deserialize)]
struct Notification {
    subscription: String,
    result: Option<StreamItem>,
    error: Option<serde_json::Value>,
}

/// The next message, `Ok(None)` when none came within [`POLL`].
fn read(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>) -> Result<Option<Message>, String> {
    match ws.read() {
        Ok(m) => Ok(Some(m)),
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            // Answer pings queued while reading.
            let _ = ws.flush();
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// What the reader hands the applying thread, in stream order.
enum Read {
    /// A mini-block whose position-free checks passed.
    MiniBlock {
        verified: Box<Verified>,
        stream_head: u64,
    },
    /// A block's seal.
    Seal(Box<SealItem>),
    /// The connection ended (after everything sent before this).
    End(End),
}

/// Items read and verified ahead of the applying thread, at most (a bound on memory; TCP
/// holds the sequencer back beyond it).
const READ_AHEAD: usize = 256;

/// One connection: subscribe from where the chain stands, apply until it ends.
///
/// Two threads: a reader (`peregrine-follow-read`) owns the socket, parses each message
/// and runs the checks that do not depend on the chain's position (the signature
/// recovery, the Merkle roots, the raw transactions' hashes:
/// [`peregrine_chain::follow::verify`]); this thread takes the results in order, checks
/// that each is the next one, and applies it. A refusal by the reader ends the session
/// after the items before it are applied, as when one thread did both.
fn session(cfg: &mut FollowConfig) -> End {
    let (mut ws, _) = match tungstenite::connect(cfg.url.as_str()) {
        Ok(ok) => ok,
        Err(e) => return End::Retry(format!("cannot connect: {e}")),
    };
    if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
        let _ = tcp.set_read_timeout(Some(POLL));
        let _ = tcp.set_nodelay(true);
    }
    let from_block = cfg.applier.open_block();
    let from_mini = cfg.applier.next_mini_block();
    let request = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_subscribe",
        "params": ["miniBlocks", {"version": 2, "fromMiniBlock": from_mini, "fromBlock": from_block}],
    });
    if let Err(e) = ws.send(Message::text(request.to_string())) {
        return End::Retry(format!("cannot subscribe: {e}"));
    }
    tracing::debug!(sequencer = %cfg.url, from_block, from_mini_block = from_mini, "subscribing");
    let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
    let follower = cfg.applier.follower();
    // Set to stop the reader: the replica stops, or this session ends.
    let done = Arc::new(AtomicBool::new(false));
    let stop = (cfg.stop.clone(), done.clone());
    let url = cfg.url.clone();
    let reader = match std::thread::Builder::new()
        .name("peregrine-follow-read".into())
        .spawn(move || read_loop(ws, follower, &stop, &url, &tx))
    {
        Ok(t) => t,
        Err(e) => return End::Retry(format!("cannot start the reader: {e}")),
    };
    let end = loop {
        let item = match rx.recv_timeout(POLL) {
            Ok(item) => item,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if cfg.stop.load(Ordering::Acquire) {
                    break End::Stop;
                }
                continue;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                break End::Retry("the reader stopped".into());
            }
        };
        let applied = match item {
            Read::MiniBlock {
                verified,
                stream_head,
            } => apply_mini_block(&mut cfg.applier, *verified, stream_head),
            Read::Seal(seal) => apply_seal(&mut cfg.applier, *seal),
            Read::End(end) => break end,
        };
        if let Err(end) = applied {
            break end;
        }
    };
    // The reader sees `done` (or the channel closed) within one read's timeout.
    done.store(true, Ordering::Release);
    drop(rx);
    let _ = reader.join();
    end
}

/// The reader: subscribes' answer, then each notification parsed and verified, sent on in
/// order; ends with [`Read::End`] (or when the applying thread hangs up).
fn read_loop(
    mut ws: WebSocket<MaybeTlsStream<TcpStream>>,
    follower: Follower,
    stop: &(Arc<AtomicBool>, Arc<AtomicBool>),
    url: &str,
    tx: &std::sync::mpsc::SyncSender<Read>,
) {
    let end = read_until_end(&mut ws, follower, stop, url, tx);
    if matches!(end, End::Stop) {
        let _ = ws.close(None);
    }
    let _ = tx.send(Read::End(end));
}

fn read_until_end(
    ws: &mut WebSocket<MaybeTlsStream<TcpStream>>,
    follower: Follower,
    (stop, done): &(Arc<AtomicBool>, Arc<AtomicBool>),
    url: &str,
    tx: &std::sync::mpsc::SyncSender<Read>,
) -> End {
    let mut subscription: Option<String> = None;
    loop {
        if stop.load(Ordering::Acquire) || done.load(Ordering::Acquire) {
            return End::Stop;
        }
        let text = match read(ws) {
            Ok(Some(Message::Text(text))) => text,
            Ok(Some(Message::Close(frame))) => {
                return End::Retry(format!("the sequencer closed the connection ({frame:?})"));
            }
            Ok(Some(_)) | Ok(None) => continue,
            Err(e) => return End::Retry(format!("the connection failed: {e}")),
        };
        let msg: Incoming = match serde_json::from_str(text.as_str()) {
            Ok(m) => m,
            Err(e) => return refused("malformed", format!("a message does not parse: {e}")),
        };
        let item = match (&subscription, msg) {
            (
                None,
                Incoming {
                    id: Some(1),
                    result: Some(id),
                    ..
                },
            ) => {
                let Some(id) = id.as_str() else {
                    return End::Retry(format!("eth_subscribe answered {id}"));
                };
                subscription = Some(id.to_owned());
                gauge!("peregrine_replica_connected").set(1.0);
                tracing::info!(sequencer = %url, from_mini_block = follower.next, "following the replication stream");
                continue;
            }
            (
                None,
                Incoming {
                    id: Some(1),
                    error: Some(e),
                    ..
                },
            ) => {
                return End::Retry(format!("cannot subscribe: {e}"));
            }
            (
                Some(ours),
                Incoming {
                    params: Some(n), ..
                },
            ) if n.subscription == *ours => {
                if let Some(e) = n.error {
                    return End::Retry(format!("the sequencer closed the stream: {e}"));
                }
                let Some(item) = n.result else {
                    return refused("malformed", "a notification without a result".into());
                };
                item
            }
            _ => continue,
        };
        let read = match item {
            StreamItem::MiniBlock(item) => {
                let number = item.record.number();
                match verify(follower.chain_id, follower.sequencer, *item.record) {
                    Ok(verified) => Read::MiniBlock {
                        verified: Box::new(verified),
                        stream_head: item.stream_head,
                    },
                    Err(e) => {
                        return rejected(ApplyError::Rejected(e), format!("mini-block {number}"));
                    }
                }
            }
            StreamItem::Seal(seal) => Read::Seal(Box::new(seal)),
        };
        if tx.send(read).is_err() {
            // The applying thread ended the session.
            return End::Stop;
        }
    }
}

/// Applies one verified mini-block, with its metrics.
fn apply_mini_block(
    applier: &mut Applier,
    verified: Verified,
    stream_head: u64,
) -> Result<(), End> {
    let started = Instant::now();
    let record = verified.record();
    let (number, signed_us) = (record.number(), record.signed);
    applier
        .apply_verified(verified)
        .map_err(|e| rejected(e, format!("mini-block {number}")))?;
    histogram!("peregrine_replica_apply_seconds", "item" => "miniBlock")
        .record(started.elapsed().as_secs_f64());
    // From the sequencer signing it to it being checked and out on this replica's feed
    // (readable once the chain thread applies it: `peregrine_replica_readable_lag_seconds`).
    let lag_us = now_us().saturating_sub(signed_us);
    histogram!("peregrine_replica_lag_seconds").record(lag_us as f64 / 1e6);
    gauge!("peregrine_replica_lag_microseconds").set(lag_us as f64);
    gauge!("peregrine_replica_next_mini_block").set((number + 1) as f64);
    gauge!("peregrine_replica_lag_mini_blocks").set(stream_head.saturating_sub(number + 1) as f64);
    Ok(())
}

/// Applies one block seal, with its metrics.
fn apply_seal(applier: &mut Applier, seal: SealItem) -> Result<(), End> {
    let started = Instant::now();
    let number = seal.block_number;
    let Some(signed) = seal.signed() else {
        return Err(refused(
            "bad_signature",
            format!("the seal of block {number} has a malformed signature"),
        ));
    };
    applier
        .seal(signed, seal.context)
        .map_err(|e| rejected(e, format!("the seal of block {number}")))?;
    histogram!("peregrine_replica_apply_seconds", "item" => "seal")
        .record(started.elapsed().as_secs_f64());
    gauge!("peregrine_replica_head").set(number as f64);
    gauge!("peregrine_replica_lag_mini_blocks")
        .set(seal.stream_head.saturating_sub(applier.next_mini_block()) as f64);
    Ok(())
}

/// The end an apply error means: fatal for a seal that differs or a store failure, else a
/// refusal.
fn rejected(e: ApplyError, what: String) -> End {
    let reason = e.reason();
    if e.is_fatal() {
        counter!("peregrine_replica_rejected_total", "reason" => reason).increment(1);
        let why = format!("{what}: {e}");
        tracing::error!(reason, error = %why, "the block built here is not the one the sequencer sealed (or cannot be stored): stopping");
        return End::Fatal(why);
    }
    refused(reason, format!("{what}: {e}"))
}

fn refused(reason: &'static str, why: String) -> End {
    counter!("peregrine_replica_rejected_total", "reason" => reason).increment(1);
    tracing::error!(reason, error = %why, "refused an item of the replication stream; not applied");
    End::Retry(format!("refused ({reason}): {why}"))
}

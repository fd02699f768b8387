//! A minimal WebSocket (RFC 6455) client for JSON-RPC: one writer task that coalesces
//! queued messages into one `write` per wake-up, one reader task that routes each message.
//!
//! ```text
//!  dispatch ──Outgoing──▶ writer task ──frames──▶ socket ──▶ node
//!                                                               │
//!  FrameSink (the run) ◀── tx responses, notifications ── reader task
//!  call() waiters      ◀── responses to generic calls ──────┘
//! ```
//!
//! Transaction requests are pre-serialized; the writer asks the bound [`FrameSink`] for a
//! transaction's bytes by index and stamps its send time just before the write.

use crate::{
    config::Endpoint,
    error::{LoadError, LoadResult, RpcFailure},
    rpc::wire,
};
use parking_lot::{Mutex, RwLock};
use std::{
    collections::HashMap,
    io,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Instant, SystemTime, UNIX_EPOCH},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{
        TcpSocket, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{mpsc, oneshot, watch},
};

/// Largest message accepted from the server.
const MAX_MESSAGE: u64 = 256 * 1024 * 1024;
/// The writer stops coalescing once a write buffer holds this much (bounds one `write`).
const MAX_COALESCED: usize = 256 * 1024;
/// Read buffer size: a preconfirmation is ~3 KiB; this holds dozens per `read`.
const READ_BUFFER: usize = 256 * 1024;

/// When a message arrived: the monotonic instant and the wall clock in µs since the epoch
/// (comparable with the node's stage timestamps on the same machine).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    pub(crate) at: Instant,
    pub(crate) epoch_us: u64,
}

impl Arrival {
    pub(crate) fn now() -> Self {
        Arrival {
            at: Instant::now(),
            epoch_us: epoch_us(),
        }
    }
}

/// Microseconds since the Unix epoch, by the wall clock.
pub(crate) fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What the measured run plugs into a connection.
pub(crate) trait FrameSink: Send + Sync + 'static {
    /// The serialized request of transaction `idx`.
    fn payload(&self, idx: u32) -> &[u8];
    /// Transaction `idx` is about to be written.
    fn on_sent(&self, idx: u32, at: Instant);
    /// The response to transaction `idx`'s request.
    fn on_tx_response(&self, idx: u32, msg: &[u8], at: Arrival);
    /// A subscription notification.
    fn on_notification(&self, msg: &[u8], at: Arrival);
    /// The connection ended; transactions queued on it will never be written.
    fn on_closed(&self, conn: usize, why: &str, unsent: Vec<u32>);
}

/// A message for the writer task.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Transaction `idx`'s pre-serialized request.
    Tx(u32),
    /// A text message.
    Text(String),
    /// Answer to a ping.
    Pong(Vec<u8>),
    /// Send a close frame and stop writing.
    Close,
}

struct Shared {
    index: usize,
    calls: Mutex<HashMap<u64, oneshot::Sender<Vec<u8>>>>,
    next_id: AtomicU64,
    sink: RwLock<Option<Arc<dyn FrameSink>>>,
    closed: AtomicBool,
    /// While true, the reader task reads nothing (the socket's buffers fill up).
    paused: watch::Sender<bool>,
}

impl Shared {
    fn sink(&self) -> Option<Arc<dyn FrameSink>> {
        self.sink.read().clone()
    }
}

/// One WebSocket connection; cheap to share by reference, tasks stop when it closes.
pub(crate) struct WsConn {
    out: mpsc::UnboundedSender<Outgoing>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConn")
            .field("index", &self.shared.index)
            .finish_non_exhaustive()
    }
}

impl WsConn {
    /// Connects, upgrades, and starts the reader and writer tasks (on the current runtime).
    pub(crate) async fn connect(ep: &Endpoint, index: usize) -> io::Result<WsConn> {
        let stream = TcpStream::connect((ep.connect_host(), ep.port)).await?;
        Self::upgrade(ep, index, stream).await
    }

    /// [`WsConn::connect`] with the socket's receive buffer (`SO_RCVBUF`) set to
    /// `recv_buffer` bytes before connecting, which turns the kernel's autotuning off: a
    /// connection that stops reading then holds little in the kernel on its side.
    pub(crate) async fn connect_with_recv_buffer(
        ep: &Endpoint,
        index: usize,
        recv_buffer: u32,
    ) -> io::Result<WsConn> {
        let addr = tokio::net::lookup_host((ep.connect_host(), ep.port))
            .await?
            .next()
            .ok_or_else(|| io::Error::other(format!("{} has no address", ep.host)))?;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_recv_buffer_size(recv_buffer)?;
        let stream = socket.connect(addr).await?;
        Self::upgrade(ep, index, stream).await
    }

    async fn upgrade(ep: &Endpoint, index: usize, stream: TcpStream) -> io::Result<WsConn> {
        stream.set_nodelay(true)?;
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::with_capacity(READ_BUFFER, rd);
        let key = handshake_key();
        let host_header = if ep.port == 80 {
            ep.host.clone()
        } else {
            format!("{}:{}", ep.host, ep.port)
        };
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
            ep.path
        );
        wr.write_all(req.as_bytes()).await?;
        let mut line = String::new();
        rd.read_line(&mut line).await?;
        if !line.starts_with("HTTP/1.1 101") {
            return Err(io::Error::other(format!(
                "WebSocket upgrade refused: {}",
                line.trim()
            )));
        }
        loop {
            line.clear();
            if rd.read_line(&mut line).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed during the WebSocket upgrade",
                ));
            }
            if line == "\r\n" {
                break;
            }
        }
        let (out, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            index,
            calls: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            sink: RwLock::new(None),
            closed: AtomicBool::new(false),
            paused: watch::Sender::new(false),
        });
        tokio::spawn(writer(wr, rx, shared.clone()));
        tokio::spawn(reader(rd, shared.clone(), out.clone()));
        Ok(WsConn { out, shared })
    }

    /// Routes transaction traffic to `sink` from now on.
    pub(crate) fn bind(&self, sink: Arc<dyn FrameSink>) {
        *self.shared.sink.write() = Some(sink);
    }

    /// Stops routing to the sink (breaks the sink ↔ connection reference cycle).
    pub(crate) fn unbind(&self) {
        *self.shared.sink.write() = None;
    }

    /// Queues transaction `idx`; `false` if the connection is closed.
    pub(crate) fn send_tx(&self, idx: u32) -> bool {
        !self.shared.closed.load(Ordering::Acquire) && self.out.send(Outgoing::Tx(idx)).is_ok()
    }

    /// Stops reading after the message being read (`true`) or reads again (`false`).
    pub(crate) fn pause_reading(&self, paused: bool) {
        self.shared.paused.send_replace(paused);
    }

    /// Whether the connection has closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Sends a request built by `build` from `ids` consecutive fresh ids (one for a call, n for
    /// a batch) and waits for the answer's bytes.
    pub(crate) async fn request(
        &self,
        ids: u64,
        build: impl FnOnce(u64) -> String,
    ) -> Result<Vec<u8>, RpcFailure> {
        let first = self.shared.next_id.fetch_add(ids.max(1), Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared.calls.lock().insert(first, tx);
        if self.is_closed() || self.out.send(Outgoing::Text(build(first))).is_err() {
            self.shared.calls.lock().remove(&first);
            return Err(RpcFailure::Transport("connection closed".into()));
        }
        rx.await
            .map_err(|_| RpcFailure::Transport("connection closed".into()))
    }

    /// `eth_subscribe(params)`, waiting [`CALL_TIMEOUT`](super::CALL_TIMEOUT) at most for
    /// the answer; notifications then go to the bound sink.
    pub(crate) async fn subscribe(&self, params: &serde_json::Value) -> LoadResult<()> {
        const METHOD: &str = "eth_subscribe";
        let timeout = super::CALL_TIMEOUT;
        let bytes = tokio::time::timeout(
            timeout,
            self.request(1, |id| wire::request(id, METHOD, params)),
        )
        .await
        .map_err(|_| LoadError::rpc(METHOD, RpcFailure::Timeout(timeout)))?
        .map_err(|e| LoadError::rpc(METHOD, e))?;
        wire::parse_response::<serde_json::Value>(&bytes).map_err(|e| LoadError::rpc(METHOD, e))?;
        Ok(())
    }

    /// Sends a close frame; the tasks end when the server closes its side.
    pub(crate) fn close(&self) {
        let _ = self.out.send(Outgoing::Close);
    }
}

impl Drop for WsConn {
    fn drop(&mut self) {
        self.unbind();
        self.close();
    }
}

fn handshake_key() -> String {
    // 16 pseudo-random bytes, base64: servers only check the length and echo a hash of it.
    let mut x = mask_seed();
    let bytes: Vec<u8> = (0..16)
        .map(|_| {
            x = xorshift(x);
            x as u8
        })
        .collect();
    base64(&bytes)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn mask_seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64);
    (t ^ 0x2545_f491_4f6c_dd1d) | 1
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Appends a masked client frame.
fn push_frame(buf: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    buf.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        buf.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        buf.push(0x80 | 126);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0x80 | 127);
        buf.extend_from_slice(&(len as u64).to_be_bytes());
    }
    buf.extend_from_slice(&mask);
    let start = buf.len();
    buf.extend_from_slice(payload);
    for (i, b) in buf[start..].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

async fn writer(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<Shared>,
) {
    let mut buf = Vec::with_capacity(MAX_COALESCED + 64 * 1024);
    let mut sent: Vec<u32> = Vec::with_capacity(1024);
    let mut rng = mask_seed();
    let mut closing = false;
    while let Some(first) = rx.recv().await {
        buf.clear();
        sent.clear();
        let sink = shared.sink();
        let mut next = Some(first);
        while let Some(msg) = next {
            rng = xorshift(rng);
            let mask = (rng as u32).to_ne_bytes();
            match msg {
                Outgoing::Tx(idx) => {
                    if let Some(s) = &sink {
                        push_frame(&mut buf, 0x1, s.payload(idx), mask);
                        sent.push(idx);
                    }
                }
                Outgoing::Text(t) => push_frame(&mut buf, 0x1, t.as_bytes(), mask),
                Outgoing::Pong(p) => push_frame(&mut buf, 0xA, &p, mask),
                Outgoing::Close => {
                    push_frame(&mut buf, 0x8, &1000u16.to_be_bytes(), mask);
                    closing = true;
                    break;
                }
            }
            if buf.len() >= MAX_COALESCED {
                break;
            }
            next = rx.try_recv().ok();
        }
        if let Some(s) = &sink {
            let now = Instant::now();
            for &idx in &sent {
                s.on_sent(idx, now);
            }
        }
        if let Err(e) = wr.write_all(&buf).await {
            shared.closed.store(true, Ordering::Release);
            let mut unsent = Vec::new();
            while let Ok(m) = rx.try_recv() {
                if let Outgoing::Tx(i) = m {
                    unsent.push(i);
                }
            }
            if let Some(s) = &sink {
                s.on_closed(shared.index, &format!("write failed: {e}"), unsent);
            }
            return;
        }
        if closing {
            let _ = wr.shutdown().await;
            shared.closed.store(true, Ordering::Release);
            return;
        }
    }
}

async fn reader(
    mut rd: BufReader<OwnedReadHalf>,
    shared: Arc<Shared>,
    out: mpsc::UnboundedSender<Outgoing>,
) {
    let mut msg = Vec::with_capacity(64 * 1024);
    let mut paused = shared.paused.subscribe();
    loop {
        // Only fails when the sender (in `shared`, which this task holds) is gone.
        let _ = paused.wait_for(|p| !*p).await;
        if let Err(e) = read_message(&mut rd, &mut msg, &out).await {
            let was_closed = shared.closed.swap(true, Ordering::AcqRel);
            shared.calls.lock().clear();
            if let Some(s) = shared.sink()
                && !was_closed
            {
                s.on_closed(shared.index, &e.to_string(), Vec::new());
            }
            return;
        }
        let at = Arrival::now();
        route(&shared, &msg, at);
    }
}

fn route(shared: &Shared, msg: &[u8], at: Arrival) {
    if wire::is_notification(msg) {
        if let Some(s) = shared.sink() {
            s.on_notification(msg, at);
        }
        return;
    }
    let Some(id) = wire::peek_id(msg) else {
        return;
    };
    if id >= wire::TX_ID_BASE {
        if let Some(s) = shared.sink() {
            s.on_tx_response((id - wire::TX_ID_BASE) as u32, msg, at);
        }
    } else if let Some(waiter) = shared.calls.lock().remove(&id) {
        let _ = waiter.send(msg.to_vec());
    }
}

/// Reads one whole message (reassembling fragments, answering pings) into `msg`.
async fn read_message(
    rd: &mut BufReader<OwnedReadHalf>,
    msg: &mut Vec<u8>,
    out: &mpsc::UnboundedSender<Outgoing>,
) -> io::Result<()> {
    msg.clear();
    loop {
        let mut h = [0u8; 2];
        rd.read_exact(&mut h).await?;
        let fin = h[0] & 0x80 != 0;
        let opcode = h[0] & 0x0f;
        let masked = h[1] & 0x80 != 0;
        let mut len = u64::from(h[1] & 0x7f);
        if len == 126 {
            let mut b = [0u8; 2];
            rd.read_exact(&mut b).await?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            rd.read_exact(&mut b).await?;
            len = u64::from_be_bytes(b);
        }
        let mask = if masked {
            let mut m = [0u8; 4];
            rd.read_exact(&mut m).await?;
            Some(m)
        } else {
            None
        };
        if len + msg.len() as u64 > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "message too large",
            ));
        }
        let start = msg.len();
        msg.resize(start + len as usize, 0);
        rd.read_exact(&mut msg[start..]).await?;
        if let Some(m) = mask {
            for (i, b) in msg[start..].iter_mut().enumerate() {
                *b ^= m[i & 3];
            }
        }
        match opcode {
            0x0..=0x2 => {
                if fin {
                    return Ok(());
                }
            }
            0x8 => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "closed by the server",
                ));
            }
            0x9 => {
                let payload = msg.split_off(start);
                let _ = out.send(Outgoing::Pong(payload));
            }
            0xA => msg.truncate(start),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown WebSocket opcode {other}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(handshake_key().len(), 24);
    }

    #[test]
    fn frames_are_masked_with_the_right_length_encoding() {
        for len in [0usize, 125, 126, 65535, 65536] {
            let payload = vec![0x5a; len];
            let mut buf = Vec::new();
            push_frame(&mut buf, 1, &payload, [1, 2, 3, 4]);
            let header = match len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            };
            assert_eq!(buf.len(), header + 4 + len);
            assert_eq!(buf[0], 0x81);
            assert_eq!(buf[1] & 0x80, 0x80);
            let body = &buf[header + 4..];
            assert!(
                body.iter()
                    .enumerate()
                    .all(|(i, b)| b ^ [1, 2, 3, 4][i & 3] == 0x5a)
            );
        }
    }
}

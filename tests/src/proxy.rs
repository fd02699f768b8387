//! A WebSocket proxy that tampers with a real replication stream (`miniBlocks` version 2)
//! on its way from a sequencer to a replica, to prove the replica refuses each kind of
//! forgery. Every other message passes unchanged, both ways.
//!
//! Each connection runs on a thread of its own that polls both sockets (1 ms read
//! timeouts), so each WebSocket is read and written by one thread only.

use serde_json::Value;
use std::{
    io::ErrorKind,
    net::{TcpListener, TcpStream},
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};
use tungstenite::{Message, WebSocket};

/// Open connections: an id each, with both its sockets.
type Open = Arc<Mutex<Vec<(u64, [TcpStream; 2])>>>;

/// What the proxy does to the first mini-block item (or seal) of each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Nothing.
    Honest,
    /// Changes a byte of the first mini-block's signature.
    BadSignature,
    /// Adds 1 wei to a balance in the first mini-block's state diff.
    RicherDiff,
    /// Drops the first mini-block.
    Drop,
    /// Sends the first mini-block after the item that follows it.
    Swap,
    /// Sends the first mini-block twice.
    Replay,
    /// Changes the block hash of the first seal (keeping its signature).
    ForgedSeal,
}

/// A running proxy to `ws://127.0.0.1:<upstream>`; its mode can change at any time.
#[derive(Debug, Clone)]
pub struct TamperProxy {
    /// Port it listens on.
    pub port: u16,
    mode: Arc<Mutex<Tamper>>,
    /// The sockets of the open connections, both sides, by connection ([`TamperProxy::cut`]).
    open: Open,
}

impl TamperProxy {
    /// Starts a proxy to the node listening on `upstream`.
    pub fn start(upstream: u16, mode: Tamper) -> TamperProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let mode = Arc::new(Mutex::new(mode));
        let open: Open = Arc::default();
        let (shared, conns) = (mode.clone(), open.clone());
        thread::spawn(move || {
            for (id, stream) in (0u64..).zip(listener.incoming()) {
                let Ok(stream) = stream else { return };
                let (mode, conns) = (shared.clone(), conns.clone());
                thread::spawn(move || {
                    let _ = relay(id, stream, upstream, mode, &conns);
                    conns.lock().unwrap().retain(|(i, _)| *i != id);
                });
            }
        });
        TamperProxy { port, mode, open }
    }

    /// Cuts every open connection at once, both ways (as a network failure would: no
    /// close frame); returns how many there were.
    pub fn cut(&self) -> usize {
        let mut open = self.open.lock().unwrap();
        for (_, sockets) in open.iter() {
            for s in sockets {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
        }
        let n = open.len();
        open.clear();
        n
    }

    /// The URL a replica follows through it.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// Changes what it does to connections from now on.
    pub fn set(&self, mode: Tamper) {
        *self.mode.lock().unwrap() = mode;
    }
}

/// One connection: pumps both ways until either side closes.
fn relay(
    id: u64,
    client: TcpStream,
    upstream: u16,
    mode: Arc<Mutex<Tamper>>,
    open: &Open,
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let mut down =
        tungstenite::accept(client.try_clone().map_err(|x| e(&x))?).map_err(|x| e(&x))?;
    let up_tcp = TcpStream::connect(("127.0.0.1", upstream)).map_err(|x| e(&x))?;
    let (mut up, _) = tungstenite::client(
        format!("ws://127.0.0.1:{upstream}/"),
        up_tcp.try_clone().map_err(|x| e(&x))?,
    )
    .map_err(|x| e(&x))?;
    let sockets = [
        client.try_clone().map_err(|x| e(&x))?,
        up_tcp.try_clone().map_err(|x| e(&x))?,
    ];
    open.lock().unwrap().push((id, sockets));
    let tick = Some(Duration::from_millis(1));
    client.set_read_timeout(tick).map_err(|x| e(&x))?;
    up_tcp.set_read_timeout(tick).map_err(|x| e(&x))?;
    let mode = *mode.lock().unwrap();
    let mut state = State {
        mode,
        done: false,
        held: None,
    };
    loop {
        let mut idle = true;
        match poll(&mut down)? {
            Some(Message::Close(_)) => return Ok(()),
            Some(msg) => {
                idle = false;
                send(&mut up, msg)?;
            }
            None if !down.can_read() => return Ok(()),
            None => {}
        }
        // Everything the node has sent so far, before looking at the client again: one
        // message per turn would cap the stream at a message per read timeout.
        loop {
            match poll(&mut up)? {
                Some(Message::Close(_)) => return Ok(()),
                Some(Message::Text(text)) => {
                    idle = false;
                    for out in state.tamper(text.as_str()) {
                        send(&mut down, Message::text(out))?;
                    }
                }
                Some(msg) => {
                    idle = false;
                    send(&mut down, msg)?;
                }
                None if !up.can_read() => return Ok(()),
                None => break,
            }
        }
        if idle {
            thread::yield_now();
        }
    }
}

/// The next message, `None` when none arrived within the read timeout (or the socket is
/// done, which `can_read` then says).
fn poll(ws: &mut WebSocket<TcpStream>) -> Result<Option<Message>, String> {
    match ws.read() {
        Ok(m) => Ok(Some(m)),
        Err(tungstenite::Error::Io(e))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            Ok(None)
        }
        Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn send(ws: &mut WebSocket<TcpStream>, msg: Message) -> Result<(), String> {
    ws.send(msg).map_err(|e| e.to_string())
}

struct State {
    mode: Tamper,
    /// The one tampering of this connection is done.
    done: bool,
    /// A mini-block held back ([`Tamper::Swap`]).
    held: Option<String>,
}

impl State {
    /// The messages to send for `text` from upstream.
    fn tamper(&mut self, text: &str) -> Vec<String> {
        let Ok(mut v) = serde_json::from_str::<Value>(text) else {
            return vec![text.to_string()];
        };
        let item = &mut v["params"]["result"];
        let is_mini = item.get("miniBlock").is_some();
        let is_seal = item.get("seal").is_some();
        if let Some(held) = self.held.take() {
            return vec![text.to_string(), held];
        }
        if self.done || !(is_mini || is_seal) {
            return vec![text.to_string()];
        }
        match (self.mode, is_mini) {
            (Tamper::Honest, _) => vec![text.to_string()],
            (Tamper::BadSignature, true) => {
                let sig = item["miniBlock"]["record"]["signature"]
                    .as_str()
                    .unwrap()
                    .to_string();
                // Change the last byte of `r`: recovers another address, or none.
                let at = 2 + 62;
                let flipped = if &sig[at..at + 2] == "00" { "01" } else { "00" };
                let forged = format!("{}{flipped}{}", &sig[..at], &sig[at + 2..]);
                item["miniBlock"]["record"]["signature"] = Value::from(forged);
                self.done = true;
                vec![v.to_string()]
            }
            (Tamper::RicherDiff, true) => {
                let accounts = item["miniBlock"]["record"]["stateDiff"]["accounts"]
                    .as_object_mut()
                    .expect("a state diff");
                let fields = accounts
                    .values_mut()
                    .find_map(|a| a["info"].as_object_mut())
                    .expect("an account with fields");
                let balance = crate::hex_quantity(&fields["balance"]);
                fields.insert("balance".into(), Value::from(format!("{:#x}", balance + 1)));
                self.done = true;
                vec![v.to_string()]
            }
            (Tamper::Drop, true) => {
                self.done = true;
                vec![]
            }
            (Tamper::Swap, true) => {
                self.done = true;
                self.held = Some(text.to_string());
                vec![]
            }
            (Tamper::Replay, true) => {
                self.done = true;
                vec![text.to_string(), text.to_string()]
            }
            (Tamper::ForgedSeal, false) => {
                item["seal"]["blockHash"] = Value::from(format!("0x{}", "ab".repeat(32)));
                self.done = true;
                vec![v.to_string()]
            }
            _ => vec![text.to_string()],
        }
    }
}

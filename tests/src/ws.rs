//! A blocking WebSocket JSON-RPC client whose socket has a fixed receive buffer.
//!
//! Setting `SO_RCVBUF` turns the kernel's receive-buffer autotuning off, so when the client
//! stops reading, the kernel holds at most that buffer on its side. A test can then tell
//! what the server buffered from what the kernel did. (Node's `ws` cannot set it.)

use std::{
    collections::VecDeque,
    io::ErrorKind,
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use serde_json::{Value, json};
use socket2::{Domain, Socket, Type};
use tungstenite::{Message, WebSocket};

/// One WebSocket connection to `127.0.0.1:port`.
pub struct WsClient {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Messages read while waiting for a response, in order.
    queued: VecDeque<Received>,
}

/// A message from the server: its JSON and the size of its text in bytes.
#[derive(Debug, Clone)]
pub struct Received {
    /// The message, parsed.
    pub json: Value,
    /// Bytes of the message's text.
    pub len: usize,
}

impl WsClient {
    /// Connects with `SO_RCVBUF` set to `recv_buffer` before the handshake (so the window
    /// the client offers never grows past it). Returns the client and the receive buffer
    /// the kernel reports (Linux doubles the value asked for).
    #[track_caller]
    pub fn connect(port: u16, recv_buffer: usize) -> (WsClient, usize) {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("TCP socket");
        socket
            .set_recv_buffer_size(recv_buffer)
            .expect("set SO_RCVBUF");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        socket
            .connect_timeout(&addr.into(), Duration::from_secs(10))
            .expect("connect");
        let actual = socket.recv_buffer_size().expect("get SO_RCVBUF");
        let stream = TcpStream::from(socket);
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/"), stream)
            .unwrap_or_else(|e| panic!("WebSocket handshake with 127.0.0.1:{port}: {e}"));
        let client = WsClient {
            ws,
            next_id: 1,
            queued: VecDeque::new(),
        };
        (client, actual)
    }

    /// Connects (default buffers) with an `Origin` header; the HTTP status of a refused
    /// handshake otherwise.
    pub fn connect_with_origin(port: u16, origin: &str) -> Result<WsClient, u16> {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let uri: tungstenite::http::Uri = format!("ws://127.0.0.1:{port}/").parse().unwrap();
        let request = tungstenite::ClientRequestBuilder::new(uri).with_header("Origin", origin);
        match tungstenite::client(request, stream) {
            Ok((ws, _)) => Ok(WsClient {
                ws,
                next_id: 1,
                queued: VecDeque::new(),
            }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(res))) => {
                Err(res.status().as_u16())
            }
            Err(e) => panic!("WebSocket handshake with 127.0.0.1:{port}: {e}"),
        }
    }

    /// Whether the server closes the connection within `timeout` (reading, and so
    /// answering pings, meanwhile).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        self.ws
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("set read timeout");
        while std::time::Instant::now() < deadline {
            match self.ws.read() {
                Ok(Message::Close(_)) => return true,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// Calls `method`; returns the whole response object (`result` or `error`).
    /// Notifications that arrive first are kept for [`WsClient::next`].
    #[track_caller]
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.ws
            .send(Message::text(request.to_string()))
            .unwrap_or_else(|e| panic!("send {method}: {e}"));
        loop {
            let msg = self
                .read(Duration::from_secs(30))
                .unwrap_or_else(|| panic!("no response to {method} within 30 s"));
            if msg.json["id"] == json!(id) {
                return msg.json;
            }
            self.queued.push_back(msg);
        }
    }

    /// `eth_subscribe(params)`; returns the subscription id.
    #[track_caller]
    pub fn subscribe(&mut self, params: Value) -> String {
        let res = self.call("eth_subscribe", params.clone());
        match res["result"].as_str() {
            Some(id) => id.to_owned(),
            None => panic!("eth_subscribe {params}: {res}"),
        }
    }

    /// The next message (queued first), or `None` if none comes within `timeout` or the
    /// connection is closed.
    pub fn next(&mut self, timeout: Duration) -> Option<Received> {
        self.queued.pop_front().or_else(|| self.read(timeout))
    }

    /// The next message, which must be a notification of subscription `sub`: its `params`
    /// (with `result` or `error`) and the message's size. Panics naming `what` if none
    /// comes within `timeout`.
    #[track_caller]
    pub fn next_notification(&mut self, sub: &str, timeout: Duration, what: &str) -> Received {
        let Some(msg) = self.next(timeout) else {
            panic!("{what}: nothing within {timeout:?}");
        };
        let params = &msg.json["params"];
        assert_eq!(
            params["subscription"].as_str(),
            Some(sub),
            "{what}: not a notification of {sub}: {}",
            msg.json
        );
        Received {
            json: params.clone(),
            len: msg.len,
        }
    }

    fn read(&mut self, timeout: Duration) -> Option<Received> {
        self.ws
            .get_ref()
            .set_read_timeout(Some(timeout))
            .expect("set read timeout");
        loop {
            match self.ws.read() {
                Ok(Message::Text(text)) => {
                    let json = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("server sent non-JSON text ({e}): {text}"));
                    return Some(Received {
                        json,
                        len: text.len(),
                    });
                }
                Ok(Message::Close(_)) => return None,
                // Pings are answered by tungstenite on the next read or write.
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return None;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return None;
                }
                Err(e) => panic!("WebSocket read: {e}"),
            }
        }
    }
}

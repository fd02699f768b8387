//! A minimal HTTP/1.1 client for JSON-RPC: keep-alive connections, one request at a time
//! each, `Content-Length` or chunked answers. No TLS, no redirects: load targets are local.

use crate::config::Endpoint;
use parking_lot::Mutex;
use std::io;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Largest response body accepted (a verification batch of receipts stays far below).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// One keep-alive connection.
#[derive(Debug)]
pub(crate) struct HttpConn {
    stream: TcpStream,
    /// `POST … Content-Length: ` up to the length.
    head: String,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    /// The server announced `Connection: close`.
    closing: bool,
}

impl HttpConn {
    /// Opens a connection (TCP_NODELAY on).
    pub(crate) async fn connect(ep: &Endpoint) -> io::Result<Self> {
        let stream = TcpStream::connect((ep.connect_host(), ep.port)).await?;
        stream.set_nodelay(true)?;
        let host_header = if ep.port == 80 {
            ep.host.clone()
        } else {
            format!("{}:{}", ep.host, ep.port)
        };
        Ok(HttpConn {
            stream,
            head: format!(
                "POST {} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: ",
                ep.path
            ),
            rbuf: Vec::with_capacity(16 * 1024),
            wbuf: Vec::with_capacity(4 * 1024),
            closing: false,
        })
    }

    /// Whether the server asked to close after the last answer.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing
    }

    /// Posts `body` and puts the answer's body in `out`. An HTTP status other than 200 is an
    /// error of kind `Other` whose message starts with `HTTP <status>`.
    pub(crate) async fn post(&mut self, body: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        self.wbuf.clear();
        self.wbuf.extend_from_slice(self.head.as_bytes());
        self.wbuf
            .extend_from_slice(format!("{}\r\n\r\n", body.len()).as_bytes());
        self.wbuf.extend_from_slice(body);
        self.stream.write_all(&self.wbuf).await?;
        out.clear();
        let status = self.read_response(out).await?;
        if status != 200 {
            let text = String::from_utf8_lossy(&out[..out.len().min(200)]).into_owned();
            return Err(io::Error::other(format!("HTTP {status}: {text}")));
        }
        Ok(())
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.rbuf.capacity() - self.rbuf.len() < 8 * 1024 {
            self.rbuf.reserve(64 * 1024);
        }
        let n = self.stream.read_buf(&mut self.rbuf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        Ok(())
    }

    async fn read_response(&mut self, out: &mut Vec<u8>) -> io::Result<u16> {
        let (status, header_len, length, chunked) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.rbuf) {
                Ok(httparse::Status::Complete(n)) => {
                    let mut length = None;
                    let mut chunked = false;
                    for h in resp.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            length = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<usize>().ok());
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            chunked = h.value.eq_ignore_ascii_case(b"chunked");
                        } else if h.name.eq_ignore_ascii_case("connection") {
                            self.closing = h.value.eq_ignore_ascii_case(b"close");
                        }
                    }
                    break (resp.code.unwrap_or(0), n, length, chunked);
                }
                Ok(httparse::Status::Partial) => self.fill().await?,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        };
        self.rbuf.drain(..header_len);
        if chunked {
            self.read_chunked(out).await?;
        } else if let Some(len) = length {
            if len > MAX_BODY {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response too large",
                ));
            }
            while self.rbuf.len() < len {
                self.fill().await?;
            }
            out.extend_from_slice(&self.rbuf[..len]);
            self.rbuf.drain(..len);
        } else {
            // Delimited by the end of the connection.
            self.closing = true;
            loop {
                match self.fill().await {
                    Ok(()) if self.rbuf.len() <= MAX_BODY => {}
                    Ok(()) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "response too large",
                        ));
                    }
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            out.append(&mut self.rbuf);
        }
        Ok(status)
    }

    async fn read_chunked(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let line_end = loop {
                if let Some(i) = self.rbuf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                self.fill().await?;
            };
            let size_text = std::str::from_utf8(&self.rbuf[..line_end])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let size_hex = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            self.rbuf.drain(..line_end + 2);
            if size == 0 {
                // Trailers (normally none), then the blank line.
                loop {
                    let end = loop {
                        if let Some(i) = self.rbuf.windows(2).position(|w| w == b"\r\n") {
                            break i;
                        }
                        self.fill().await?;
                    };
                    self.rbuf.drain(..end + 2);
                    if end == 0 {
                        return Ok(());
                    }
                }
            }
            if out.len() + size > MAX_BODY {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "response too large",
                ));
            }
            while self.rbuf.len() < size + 2 {
                self.fill().await?;
            }
            out.extend_from_slice(&self.rbuf[..size]);
            self.rbuf.drain(..size + 2);
        }
    }
}

/// Keep-alive connections shared by callers: each call takes an idle one or opens one.
#[derive(Debug)]
pub(crate) struct HttpPool {
    endpoint: Endpoint,
    idle: Mutex<Vec<HttpConn>>,
}

impl HttpPool {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        HttpPool {
            endpoint,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Posts `body` on an idle connection (or a new one); a stale idle connection is retried
    /// once on a fresh one.
    pub(crate) async fn post(&self, body: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let reused = self.idle.lock().pop();
        if let Some(mut conn) = reused
            && conn.post(body, &mut out).await.is_ok()
        {
            self.give_back(conn);
            return Ok(out);
        }
        let mut conn = HttpConn::connect(&self.endpoint).await?;
        conn.post(body, &mut out).await?;
        self.give_back(conn);
        Ok(out)
    }

    fn give_back(&self, conn: HttpConn) {
        if !conn.is_closing() {
            self.idle.lock().push(conn);
        }
    }
}

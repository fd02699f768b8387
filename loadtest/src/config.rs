//! What a run does: [`LoadConfig`], built from the command line and checked by
//! [`LoadConfig::validate`] before anything is sent. Every run is bounded both in time and
//! in transactions, under hard caps no flag lifts ([`MAX_DURATION`], [`MAX_TRANSACTIONS`]).

use crate::error::{LoadError, LoadResult};
use alloy_primitives::B256;
use serde::Serialize;
use std::{fmt, net::IpAddr, path::PathBuf, str::FromStr, time::Duration};

/// Run length when neither `--duration` nor `--count` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Open-loop rate when `--rate` is absent, transactions per second.
pub const DEFAULT_RATE: f64 = 1000.0;
/// Closed-loop transactions in flight when `--concurrency` is absent.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// Sender accounts when `--accounts` is absent (`peregrine dev --dev.accounts` must be at least this).
pub const DEFAULT_ACCOUNTS: usize = 64;
/// The key that funds load accounts on targets that did not prefund them: account 0 of the
/// standard test mnemonic, prefunded by anvil, hardhat and `peregrine dev`.
pub const DEFAULT_FUNDER_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// How often `--send poll` asks for receipts.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// How long to wait, after the last send, for transactions still in flight.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the end-of-run check waits for every accepted transaction's receipt.
pub const DEFAULT_RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP connections of an open-loop run over HTTP (each carries one request at a time).
pub const DEFAULT_HTTP_CONNECTIONS: usize = 32;

/// Hard cap on transactions in one run: each is signed before the clock starts and kept in
/// memory with its bookkeeping (about 1 KiB), so the cap bounds memory at about 2 GiB.
pub const MAX_TRANSACTIONS: u64 = 2_000_000;
/// Hard cap on the measured part of one run.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Most sender accounts (setup funds and queries each one).
pub const MAX_ACCOUNTS: usize = 100_000;
/// Most stalled subscribers (each is a connection of its own).
pub const MAX_STALLED_SUBSCRIBERS: usize = 64;
/// Most connections (Peregrine accepts 1024 by default).
pub const MAX_CONNECTIONS: usize = 1000;
/// Highest open-loop rate, transactions per second.
pub const MAX_RATE: f64 = 1_000_000.0;
/// A closed loop bounded only by `--duration` pre-signs this many transactions per second
/// of duration (capped by [`MAX_TRANSACTIONS`]); pass `--count` to sign more or fewer.
pub const CLOSED_LOOP_BUDGET_TPS: u64 = 30_000;

/// Open or closed loop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Mode {
    /// Send at a fixed rate whatever happens; latency counts from each intended send time.
    Open {
        /// Transactions per second.
        rate: f64,
    },
    /// Keep `concurrency` transactions in flight; the next is sent when one finishes.
    Closed {
        /// Transactions in flight.
        concurrency: usize,
    },
}

impl Mode {
    /// `open` or `closed`.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Open { .. } => "open",
            Mode::Closed { .. } => "closed",
        }
    }
}

/// How transactions are submitted and how their confirmation is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SendMethod {
    /// `eth_sendRawTransactionSync` (EIP-7966): the answer is the preconfirmed receipt.
    Sync,
    /// `eth_sendRawTransaction` plus a `preconfirmations` subscription (WebSocket only).
    Async,
    /// `eth_sendRawTransaction` plus `eth_getTransactionReceipt` polling (any node).
    Poll,
}

impl SendMethod {
    /// The flag value.
    pub fn name(&self) -> &'static str {
        match self {
            SendMethod::Sync => "sync",
            SendMethod::Async => "async",
            SendMethod::Poll => "poll",
        }
    }

    /// The JSON-RPC method that submits.
    pub fn rpc_method(&self) -> &'static str {
        match self {
            SendMethod::Sync => "eth_sendRawTransactionSync",
            SendMethod::Async | SendMethod::Poll => "eth_sendRawTransaction",
        }
    }
}

impl fmt::Display for SendMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// HTTP or WebSocket, from the scheme of `--rpc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `http://`: one request at a time per keep-alive connection.
    Http,
    /// `ws://`: persistent connections, requests pipelined.
    Ws,
}

impl Transport {
    /// `http` or `ws`.
    pub fn name(&self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Ws => "ws",
        }
    }
}

/// Where the node listens, parsed from `--rpc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as given.
    pub url: String,
    /// From the scheme.
    pub transport: Transport,
    /// Host as written (IPv6 in brackets), for the `Host` header.
    pub host: String,
    /// Port (default 80).
    pub port: u16,
    /// Path, at least `/`.
    pub path: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/path]` or `ws://…`. TLS (`https`, `wss`) is not supported:
    /// load targets are local.
    pub fn parse(url: &str) -> LoadResult<Self> {
        let bad = |why: &str| LoadError::Config(format!("--rpc {url}: {why}"));
        let (transport, rest) = if let Some(r) = url.strip_prefix("http://") {
            (Transport::Http, r)
        } else if let Some(r) = url.strip_prefix("ws://") {
            (Transport::Ws, r)
        } else if url.starts_with("https://") || url.starts_with("wss://") {
            return Err(bad("TLS is not supported; use http:// or ws://"));
        } else {
            return Err(bad("expected an http:// or ws:// URL"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| bad("unclosed IPv6 bracket"))?;
            let host = &authority[..end + 2];
            let port = match &v6[end + 1..] {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("bad port"))?),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("bad port"))?,
            None => 80,
        };
        Ok(Endpoint {
            url: url.to_owned(),
            transport,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// Host without IPv6 brackets, for connecting.
    pub fn connect_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// Whether the host is this machine: `localhost` or a loopback address (127.0.0.0/8, ::1).
    pub fn is_loopback(&self) -> bool {
        let h = self.connect_host();
        h.eq_ignore_ascii_case("localhost") || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// The same endpoint with the other transport (the node serves both on one port).
    pub fn with_transport(&self, transport: Transport) -> Endpoint {
        let scheme = match transport {
            Transport::Http => "http",
            Transport::Ws => "ws",
        };
        Endpoint {
            url: format!("{scheme}://{}:{}{}", self.host, self.port, self.path),
            transport,
            ..self.clone()
        }
    }
}

/// Weights of the transaction kinds (`--mix eth=80,erc20=20`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mix {
    /// Weight of ETH transfers.
    pub eth: u32,
    /// Weight of ERC-20 `transfer` calls.
    pub erc20: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix { eth: 100, erc20: 0 }
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mut mix = Mix { eth: 0, erc20: 0 };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected KIND=WEIGHT"))?;
            let w: u32 = v
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: weight must be a whole number"))?;
            match k.trim() {
                "eth" => mix.eth = w,
                "erc20" => mix.erc20 = w,
                other => return Err(format!("unknown kind {other:?}; kinds: eth, erc20")),
            }
        }
        if mix.eth == 0 && mix.erc20 == 0 {
            return Err("the weights add up to zero".into());
        }
        if mix.eth > 1_000_000 || mix.erc20 > 1_000_000 {
            return Err("weights above 1000000".into());
        }
        Ok(mix)
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "eth={},erc20={}", self.eth, self.erc20)
    }
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `--rpc`.
    pub endpoint: Endpoint,
    /// `--mode` with `--rate` or `--concurrency`.
    pub mode: Mode,
    /// Longest the measured phase sends for.
    pub duration: Duration,
    /// Most transactions sent (all pre-signed).
    pub count: u64,
    /// `--accounts`.
    pub accounts: usize,
    /// `--send`; `None` picks after probing the target (Peregrine: `async` over ws, `sync`
    /// over HTTP; others: `poll`).
    pub send: Option<SendMethod>,
    /// `--mix`.
    pub mix: Mix,
    /// `--connections`; `None`: one WebSocket, or for HTTP the concurrency (closed loop) or
    /// [`DEFAULT_HTTP_CONNECTIONS`] (open loop).
    pub connections: Option<usize>,
    /// `--stalled-subscribers`: extra WebSocket connections that subscribe to
    /// `miniBlocks` and read nothing during the run.
    pub stalled_subscribers: usize,
    /// `--replica`: a replica of the target whose feed's lag is measured.
    pub replica: Option<Endpoint>,
    /// `--funder-key`.
    pub funder_key: B256,
    /// `--allow-remote`.
    pub allow_remote: bool,
    /// `--out`: the JSON report.
    pub out: Option<PathBuf>,
    /// `--plots`: where SVG and PNG plots go (default: beside `--out`).
    pub plots: Option<PathBuf>,
    /// `--samples`: one CSV line per transaction.
    pub samples: Option<PathBuf>,
    /// `--poll-interval`.
    pub poll_interval: Duration,
    /// `--drain-timeout`.
    pub drain_timeout: Duration,
    /// `--receipt-timeout`.
    pub receipt_timeout: Duration,
    /// Show the progress bar (only drawn on a terminal).
    pub progress: bool,
    /// Print the human summary on stdout.
    pub summary: bool,
}

impl LoadConfig {
    /// A configuration with defaults for everything but the target and the bounds.
    pub fn new(endpoint: Endpoint, mode: Mode, duration: Duration, count: u64) -> Self {
        LoadConfig {
            endpoint,
            mode,
            duration,
            count,
            accounts: DEFAULT_ACCOUNTS,
            send: None,
            mix: Mix::default(),
            connections: None,
            stalled_subscribers: 0,
            replica: None,
            funder_key: DEFAULT_FUNDER_KEY
                .parse()
                .expect("the default funder key is hex"),
            allow_remote: false,
            out: None,
            plots: None,
            samples: None,
            poll_interval: DEFAULT_POLL_INTERVAL,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            receipt_timeout: DEFAULT_RECEIPT_TIMEOUT,
            progress: true,
            summary: true,
        }
    }

    /// Checks the configuration before anything is sent.
    pub fn validate(&self) -> LoadResult<()> {
        let bad = |m: String| Err(LoadError::Config(m));
        if !self.allow_remote && !self.endpoint.is_loopback() {
            return Err(LoadError::RemoteTarget {
                host: self.endpoint.host.clone(),
            });
        }
        match self.mode {
            Mode::Open { rate } if !(rate > 0.0 && rate <= MAX_RATE) => {
                return bad(format!("--rate must be in (0, {MAX_RATE}]"));
            }
            Mode::Closed { concurrency } if concurrency == 0 || concurrency > 1_000_000 => {
                return bad("--concurrency must be in 1..=1000000".into());
            }
            _ => {}
        }
        if self.count == 0 {
            return bad(
                "the run has no transactions (--count 0 or a rate too low for --duration)".into(),
            );
        }
        if self.count > MAX_TRANSACTIONS {
            return bad(format!(
                "{} transactions is above the hard cap of {MAX_TRANSACTIONS}",
                self.count
            ));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return bad(format!(
                "--duration must be positive and at most {}",
                humantime::format_duration(MAX_DURATION)
            ));
        }
        if self.accounts == 0 || self.accounts > MAX_ACCOUNTS {
            return bad(format!("--accounts must be in 1..={MAX_ACCOUNTS}"));
        }
        if let Some(c) = self.connections
            && (c == 0 || c > MAX_CONNECTIONS)
        {
            return bad(format!("--connections must be in 1..={MAX_CONNECTIONS}"));
        }
        if self.stalled_subscribers > MAX_STALLED_SUBSCRIBERS {
            return bad(format!(
                "--stalled-subscribers must be at most {MAX_STALLED_SUBSCRIBERS}"
            ));
        }
        if self.send == Some(SendMethod::Async) && self.endpoint.transport != Transport::Ws {
            return bad(
                "--send async needs a ws:// endpoint (it subscribes to preconfirmations)".into(),
            );
        }
        if let (Some(SendMethod::Sync), Mode::Closed { concurrency }) = (self.send, self.mode)
            && concurrency > self.accounts
        {
            return bad(format!(
                "--send sync keeps at most one transaction in flight per account (a second one \
                 would be answered as a nonce gap); use --accounts >= --concurrency ({concurrency})"
            ));
        }
        if self.poll_interval.is_zero() {
            return bad("--poll-interval must be positive".into());
        }
        Ok(())
    }
}

/// Resolves `--duration` and `--count` into the run's bounds. Open loop: `count` is at most
/// `rate × duration`, and `--count` alone runs for `count / rate`. Closed loop: `--duration`
/// alone pre-signs [`CLOSED_LOOP_BUDGET_TPS`] per second; `--count` alone is bounded by
/// [`MAX_DURATION`]. Neither: [`DEFAULT_DURATION`].
pub fn resolve_bounds(
    mode: Mode,
    duration: Option<Duration>,
    count: Option<u64>,
) -> LoadResult<(Duration, u64)> {
    if let Some(d) = duration
        && d > MAX_DURATION
    {
        return Err(LoadError::Config(format!(
            "--duration {} is above the hard cap of {}",
            humantime::format_duration(d),
            humantime::format_duration(MAX_DURATION)
        )));
    }
    Ok(match mode {
        Mode::Open { rate } => {
            let rate = rate.max(f64::MIN_POSITIVE);
            match (duration, count) {
                (Some(d), Some(c)) => (d, c.min((rate * d.as_secs_f64()).ceil() as u64)),
                (Some(d), None) => (d, (rate * d.as_secs_f64()).ceil() as u64),
                (None, Some(c)) => {
                    let secs = (c as f64 / rate).min(MAX_DURATION.as_secs_f64());
                    (
                        Duration::from_secs_f64(secs).max(Duration::from_millis(1)),
                        c,
                    )
                }
                (None, None) => (
                    DEFAULT_DURATION,
                    (rate * DEFAULT_DURATION.as_secs_f64()).ceil() as u64,
                ),
            }
        }
        Mode::Closed { .. } => {
            let budget = |d: Duration| {
                ((d.as_secs_f64() * CLOSED_LOOP_BUDGET_TPS as f64).ceil() as u64)
                    .clamp(1, MAX_TRANSACTIONS)
            };
            match (duration, count) {
                (Some(d), Some(c)) => (d, c),
                (Some(d), None) => (d, budget(d)),
                (None, Some(c)) => (MAX_DURATION, c),
                (None, None) => (DEFAULT_DURATION, budget(DEFAULT_DURATION)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("ws://127.0.0.1:8545").unwrap();
        assert_eq!(e.transport, Transport::Ws);
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("127.0.0.1", 8545, "/")
        );
        assert!(e.is_loopback());
        let e = Endpoint::parse("http://[::1]:9/rpc").unwrap();
        assert_eq!(
            (e.connect_host(), e.port, e.path.as_str()),
            ("::1", 9, "/rpc")
        );
        assert!(e.is_loopback());
        assert!(Endpoint::parse("http://localhost").unwrap().is_loopback());
        assert!(
            !Endpoint::parse("http://10.0.0.1:8545")
                .unwrap()
                .is_loopback()
        );
        assert!(
            !Endpoint::parse("http://example.com:8545")
                .unwrap()
                .is_loopback()
        );
        assert!(Endpoint::parse("https://127.0.0.1").is_err());
        assert!(Endpoint::parse("127.0.0.1:8545").is_err());
        assert_eq!(
            e.with_transport(Transport::Ws).url,
            "ws://[::1]:9/rpc".to_string()
        );
    }

    #[test]
    fn remote_targets_are_refused_unless_allowed() {
        let ep = Endpoint::parse("http://192.168.1.10:8545").unwrap();
        let mut cfg = LoadConfig::new(ep, Mode::Open { rate: 10.0 }, DEFAULT_DURATION, 10);
        assert!(matches!(
            cfg.validate(),
            Err(LoadError::RemoteTarget { .. })
        ));
        cfg.allow_remote = true;
        cfg.validate().unwrap();
    }

    #[test]
    fn mixes_parse() {
        assert_eq!(
            "eth=80,erc20=20".parse::<Mix>().unwrap(),
            Mix { eth: 80, erc20: 20 }
        );
        assert_eq!("erc20=1".parse::<Mix>().unwrap(), Mix { eth: 0, erc20: 1 });
        assert!("eth=0".parse::<Mix>().is_err());
        assert!("nft=3".parse::<Mix>().is_err());
        assert!("eth".parse::<Mix>().is_err());
    }

    #[test]
    fn bounds_resolve() {
        let open = Mode::Open { rate: 100.0 };
        assert_eq!(
            resolve_bounds(open, Some(Duration::from_secs(2)), None)
                .unwrap()
                .1,
            200
        );
        assert_eq!(
            resolve_bounds(open, Some(Duration::from_secs(2)), Some(50))
                .unwrap()
                .1,
            50
        );
        let (d, c) = resolve_bounds(open, None, Some(300)).unwrap();
        assert_eq!((d, c), (Duration::from_secs(3), 300));
        let closed = Mode::Closed { concurrency: 4 };
        let (d, c) = resolve_bounds(closed, None, Some(10)).unwrap();
        assert_eq!((d, c), (MAX_DURATION, 10));
        let (_, c) = resolve_bounds(closed, Some(Duration::from_secs(1)), None).unwrap();
        assert_eq!(c, CLOSED_LOOP_BUDGET_TPS);
        assert!(resolve_bounds(open, Some(MAX_DURATION * 2), None).is_err());
    }

    #[test]
    fn async_needs_websocket_and_sync_one_per_account() {
        let http = Endpoint::parse("http://127.0.0.1:1").unwrap();
        let mut cfg = LoadConfig::new(http, Mode::Closed { concurrency: 8 }, DEFAULT_DURATION, 10);
        cfg.send = Some(SendMethod::Async);
        assert!(cfg.validate().is_err());
        cfg.send = Some(SendMethod::Sync);
        cfg.accounts = 4;
        assert!(cfg.validate().is_err());
        cfg.accounts = 8;
        cfg.validate().unwrap();
    }
}

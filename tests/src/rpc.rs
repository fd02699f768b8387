//! A minimal blocking JSON-RPC 2.0 client over HTTP, for raw requests that
//! `cast` cannot express (malformed bodies, batches, exact error codes).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

/// A JSON-RPC error object returned by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The `code` member.
    pub code: i64,
    /// The `message` member.
    pub message: String,
    /// The optional `data` member.
    pub data: Option<Value>,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)?;
        if let Some(d) = &self.data {
            write!(f, " (data: {d})")?;
        }
        Ok(())
    }
}

impl RpcError {
    fn from_value(v: &Value) -> Self {
        RpcError {
            code: v
                .get("code")
                .and_then(Value::as_i64)
                .unwrap_or_else(|| panic!("JSON-RPC error object lacks an integer code: {v}")),
            message: v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("JSON-RPC error object lacks a string message: {v}"))
                .to_owned(),
            data: v.get("data").cloned(),
        }
    }
}

/// A raw HTTP exchange: status code, body text and the body parsed as JSON (if it is JSON).
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response body.
    pub body: String,
    /// The body parsed as JSON, if it parses.
    pub json: Option<Value>,
}

impl RawResponse {
    /// The parsed JSON body; panics with the raw body if it was not JSON.
    #[track_caller]
    pub fn json(&self) -> &Value {
        self.json.as_ref().unwrap_or_else(|| {
            panic!(
                "response is not JSON (HTTP {}): {:?}",
                self.status, self.body
            )
        })
    }

    /// The `error` object of a single JSON-RPC response; panics if there is none.
    #[track_caller]
    pub fn error(&self) -> RpcError {
        let v = self.json();
        let e = v
            .get("error")
            .unwrap_or_else(|| panic!("expected a JSON-RPC error response, got {v}"));
        assert!(
            v.get("result").is_none(),
            "response has both result and error: {v}"
        );
        assert_eq!(
            v.get("jsonrpc"),
            Some(&json!("2.0")),
            "bad jsonrpc member: {v}"
        );
        RpcError::from_value(e)
    }
}

/// Blocking JSON-RPC client bound to one URL.
#[derive(Debug, Clone)]
pub struct Rpc {
    url: String,
    agent: ureq::Agent,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Rpc {
    /// A client for `url` with a 30 s per-request timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_timeout(url, Duration::from_secs(30))
    }

    /// A client for `url` with the given per-request timeout.
    pub fn with_timeout(url: impl Into<String>, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // Never route loopback traffic through an HTTP(S)_PROXY from the environment.
            .proxy(None)
            .build()
            .into();
        Rpc {
            url: url.into(),
            agent,
        }
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs `body` verbatim as `application/json`. Errs only on transport failure.
    pub fn try_post_raw(&self, body: &str) -> Result<RawResponse, String> {
        let mut resp = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| format!("POST {} failed: {e}", self.url))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading response from {} failed: {e}", self.url))?;
        let json = serde_json::from_str(&body).ok();
        Ok(RawResponse { status, body, json })
    }

    /// POSTs `body` verbatim; panics on transport failure.
    #[track_caller]
    pub fn post_raw(&self, body: &str) -> RawResponse {
        self.try_post_raw(body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends one request; the outer `Err` is a transport or protocol failure.
    pub fn try_call(&self, method: &str, params: Value) -> Result<Result<Value, RpcError>, String> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let raw = self.try_post_raw(&req.to_string())?;
        let v = raw.json.ok_or_else(|| {
            format!(
                "{method}: response is not JSON (HTTP {}): {:?}",
                raw.status, raw.body
            )
        })?;
        if v.get("id") != Some(&json!(id)) {
            return Err(format!(
                "{method}: response id does not match request id {id}: {v}"
            ));
        }
        if v.get("jsonrpc") != Some(&json!("2.0")) {
            return Err(format!("{method}: response lacks \"jsonrpc\":\"2.0\": {v}"));
        }
        match (v.get("result"), v.get("error")) {
            (Some(r), None) => Ok(Ok(r.clone())),
            (None, Some(e)) => Ok(Err(RpcError::from_value(e))),
            _ => Err(format!(
                "{method}: response must have exactly one of result/error: {v}"
            )),
        }
    }

    /// Sends one request; panics on transport failure, returns the JSON-RPC outcome.
    #[track_caller]
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends one request and returns its result; panics on any error.
    #[track_caller]
    pub fn request(&self, method: &str, params: Value) -> Value {
        self.call(method, params.clone())
            .unwrap_or_else(|e| panic!("{method}({params}) failed: {e}"))
    }

    /// Sends one request that must fail; returns the error. Panics on success.
    #[track_caller]
    pub fn request_err(&self, method: &str, params: Value) -> RpcError {
        match self.call(method, params.clone()) {
            Ok(v) => panic!("{method}({params}) unexpectedly succeeded with {v}"),
            Err(e) => e,
        }
    }

    /// Sends `calls` (method, params) as JSON-RPC batches of at most `chunk` requests each
    /// (Peregrine accepts up to 1000 per batch); returns the outcomes in the order of
    /// `calls`. Panics on a transport failure or a malformed batch response.
    #[track_caller]
    pub fn batch(&self, calls: &[(&str, Value)], chunk: usize) -> Vec<Result<Value, RpcError>> {
        let mut out = Vec::with_capacity(calls.len());
        for part in calls.chunks(chunk.max(1)) {
            let first = NEXT_ID.fetch_add(part.len() as u64, Ordering::Relaxed);
            let body: Vec<Value> = part
                .iter()
                .enumerate()
                .map(|(i, (method, params))| {
                    json!({"jsonrpc": "2.0", "id": first + i as u64, "method": method, "params": params})
                })
                .collect();
            let raw = self.post_raw(&Value::Array(body).to_string());
            let resp = raw.json().as_array().unwrap_or_else(|| {
                panic!(
                    "batch answered with a non-array (HTTP {}): {:.500}",
                    raw.status, raw.body
                )
            });
            let by_id: std::collections::HashMap<u64, &Value> = resp
                .iter()
                .filter_map(|r| Some((r.get("id")?.as_u64()?, r)))
                .collect();
            for i in 0..part.len() as u64 {
                let r = by_id
                    .get(&(first + i))
                    .unwrap_or_else(|| panic!("batch response lacks id {}", first + i));
                out.push(match (r.get("result"), r.get("error")) {
                    (Some(v), None) => Ok(v.clone()),
                    (None, Some(e)) => Err(RpcError::from_value(e)),
                    _ => panic!("batch response must have exactly one of result/error: {r}"),
                });
            }
        }
        out
    }

    /// `eth_blockNumber` as an integer.
    #[track_caller]
    pub fn block_number(&self) -> u64 {
        crate::util::hex_quantity(&self.request("eth_blockNumber", json!([]))) as u64
    }

    /// `eth_getBlockByNumber(tag, full)`; `tag` is a quantity string or a tag name.
    #[track_caller]
    pub fn block(&self, tag: &str, full: bool) -> Value {
        self.request("eth_getBlockByNumber", json!([tag, full]))
    }

    /// `eth_getBalance(addr, "latest")` in wei.
    #[track_caller]
    pub fn balance(&self, addr: &str) -> u128 {
        self.balance_at(addr, "latest")
    }

    /// `eth_getBalance(addr, tag)` in wei.
    #[track_caller]
    pub fn balance_at(&self, addr: &str, tag: &str) -> u128 {
        crate::util::hex_quantity(&self.request("eth_getBalance", json!([addr, tag])))
    }
}

//! JSON-RPC 2.0 framing: building requests, reading responses without building a
//! `serde_json::Value` tree, and telling responses from subscription notifications.

use crate::error::RpcFailure;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::value::RawValue;
use std::fmt::Write;

/// Ids at or above this carry a transaction index (`TX_ID_BASE + index`); generic calls count
/// up from 1 below it.
pub(crate) const TX_ID_BASE: u64 = 1 << 40;

/// `{"jsonrpc":"2.0","id":…,"method":…,"params":…}`.
pub(crate) fn request(id: u64, method: &str, params: &serde_json::Value) -> String {
    let mut s = String::with_capacity(64 + method.len());
    write!(
        s,
        r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#
    )
    .expect("writing to a String cannot fail");
    s
}

/// A batch calling `method` once per entry of `params`, with ids `first_id..`.
pub(crate) fn batch_request(first_id: u64, method: &str, params: &[serde_json::Value]) -> String {
    let mut s = String::with_capacity(2 + params.len() * (64 + method.len()));
    s.push('[');
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&request(first_id + i as u64, method, p));
    }
    s.push(']');
    s
}

/// A JSON-RPC error object.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorObject {
    pub(crate) code: i64,
    #[serde(default)]
    pub(crate) message: String,
}

impl From<ErrorObject> for RpcFailure {
    fn from(e: ErrorObject) -> Self {
        RpcFailure::Rpc {
            code: e.code,
            message: e.message,
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorObject>,
}

fn decode<T: DeserializeOwned>(env: Envelope<'_>) -> Result<T, RpcFailure> {
    if let Some(e) = env.error {
        return Err(e.into());
    }
    let raw = env.result.map_or("null", RawValue::get);
    serde_json::from_str(raw).map_err(|e| RpcFailure::Decode(format!("{e} in {}", preview(raw))))
}

/// The result of a single response (a `null` result reads as `None` when `T` is an `Option`).
pub(crate) fn parse_response<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RpcFailure> {
    let env: Envelope<'_> = serde_json::from_slice(bytes)
        .map_err(|e| RpcFailure::Decode(format!("{e} in {}", preview_bytes(bytes))))?;
    decode(env)
}

/// The results of a batch response, in request order (`first_id..first_id + n`).
pub(crate) fn parse_batch<T: DeserializeOwned>(
    bytes: &[u8],
    first_id: u64,
    n: usize,
) -> Result<Vec<Result<T, RpcFailure>>, RpcFailure> {
    let items: Vec<Envelope<'_>> = match serde_json::from_slice(bytes) {
        Ok(items) => items,
        Err(e) => {
            // A whole-batch failure comes back as a single error object.
            return match parse_response::<serde_json::Value>(bytes) {
                Err(f) => Err(f),
                Ok(_) => Err(RpcFailure::Decode(format!(
                    "{e} in batch response {}",
                    preview_bytes(bytes)
                ))),
            };
        }
    };
    let mut out: Vec<Option<Result<T, RpcFailure>>> = (0..n).map(|_| None).collect();
    for item in items {
        let Some(slot) = item
            .id
            .and_then(|id| id.checked_sub(first_id))
            .and_then(|k| out.get_mut(k as usize))
        else {
            continue;
        };
        *slot = Some(decode(item));
    }
    Ok(out
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(RpcFailure::Decode("no answer in the batch".into()))))
        .collect())
}

/// Whether a message is a notification (`"method"` near the start, as every server writes
/// them: `{"jsonrpc":"2.0","method":"eth_subscription",…}`) rather than a response.
pub(crate) fn is_notification(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(48)];
    head.windows(8).any(|w| w == b"\"method\"")
}

/// The id of a response; for a batch, the smallest id in it (batches use consecutive ids
/// from the one the caller waits on).
pub(crate) fn peek_id(bytes: &[u8]) -> Option<u64> {
    // Fast path: `{"jsonrpc":"2.0","id":123,` (jsonrpsee's and anvil's field order).
    const PREFIX: &[u8] = br#"{"jsonrpc":"2.0","id":"#;
    if let Some(rest) = bytes.strip_prefix(PREFIX) {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && matches!(rest.get(digits), Some(b',') | Some(b'}')) {
            return std::str::from_utf8(&rest[..digits]).ok()?.parse().ok();
        }
    }
    #[derive(Deserialize)]
    struct Id {
        #[serde(default)]
        id: Option<u64>,
    }
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first == b'[' {
        let ids: Vec<Id> = serde_json::from_slice(bytes).ok()?;
        ids.iter().filter_map(|i| i.id).min()
    } else {
        serde_json::from_slice::<Id>(bytes).ok()?.id
    }
}

fn preview(s: &str) -> String {
    let cut: String = s.chars().take(160).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn preview_bytes(b: &[u8]) -> String {
    preview(&String::from_utf8_lossy(&b[..b.len().min(400)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn responses_parse() {
        let ok = br#"{"jsonrpc":"2.0","id":7,"result":"0x385"}"#;
        assert_eq!(peek_id(ok), Some(7));
        assert_eq!(parse_response::<String>(ok).unwrap(), "0x385");
        let null = br#"{"jsonrpc":"2.0","result":null,"id":8}"#;
        assert_eq!(peek_id(null), Some(8));
        assert_eq!(parse_response::<Option<String>>(null).unwrap(), None);
        assert!(parse_response::<String>(null).is_err());
        let err = br#"{"jsonrpc":"2.0","id":9,"error":{"code":-32000,"message":"nonce too low"}}"#;
        assert_eq!(
            parse_response::<String>(err).unwrap_err(),
            RpcFailure::Rpc {
                code: -32000,
                message: "nonce too low".into()
            }
        );
        assert!(!is_notification(ok));
        assert!(is_notification(
            br#"{"jsonrpc":"2.0","method":"eth_subscription","params":{}}"#
        ));
    }

    #[test]
    fn batches_come_back_in_request_order() {
        let req = batch_request(10, "eth_getBalance", &[json!(["0x1"]), json!(["0x2"])]);
        assert!(req.starts_with(r#"[{"jsonrpc":"2.0","id":10,"method":"eth_getBalance""#));
        let resp = br#"[{"jsonrpc":"2.0","id":11,"result":"0x2"},{"jsonrpc":"2.0","id":10,"result":"0x1"}]"#;
        assert_eq!(peek_id(resp), Some(10));
        let out = parse_batch::<String>(resp, 10, 2).unwrap();
        assert_eq!(out[0].as_ref().unwrap(), "0x1");
        assert_eq!(out[1].as_ref().unwrap(), "0x2");
        let missing =
            parse_batch::<String>(br#"[{"jsonrpc":"2.0","id":10,"result":"0x1"}]"#, 10, 2).unwrap();
        assert!(missing[1].is_err());
        let whole = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"too big"}}"#;
        assert!(parse_batch::<String>(whole, 10, 2).is_err());
    }
}

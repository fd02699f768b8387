//! Errors: [`LoadError`] ends a run (bad flags, unreachable or refused target, failed
//! setup); [`RpcFailure`] is one failed call, counted by [`ErrorClass`] in the report.

use serde::Serialize;
use std::{io, path::PathBuf, time::Duration};

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The flags do not describe a run.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The target is not on this machine and `--allow-remote` was not given.
    #[error(
        "refusing to load {host}: not a loopback address (pass --allow-remote to load a node you operate elsewhere)"
    )]
    RemoteTarget {
        /// Host part of `--rpc`.
        host: String,
    },
    /// The target did not accept a connection.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// `--rpc`.
        url: String,
        /// What the socket said.
        #[source]
        source: io::Error,
    },
    /// A call made before or after the measured run failed.
    #[error("{method}: {source}")]
    Rpc {
        /// JSON-RPC method.
        method: String,
        /// The failure.
        #[source]
        source: RpcFailure,
    },
    /// Funding, token deployment or another preparation step failed.
    #[error("setup: {0}")]
    Setup(String),
    /// A report, sample or plot file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Starting or supervising a node for `compare` failed.
    #[error("node: {0}")]
    Node(String),
}

impl LoadError {
    /// Wraps a failed call with the method it was.
    pub fn rpc(method: &str, source: RpcFailure) -> Self {
        LoadError::Rpc {
            method: method.to_owned(),
            source,
        }
    }
}

/// Result of the load generator's fallible operations.
pub type LoadResult<T> = Result<T, LoadError>;

/// One failed JSON-RPC call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RpcFailure {
    /// The node answered with a JSON-RPC error object.
    #[error("JSON-RPC error {code}: {message}")]
    Rpc {
        /// `error.code`.
        code: i64,
        /// `error.message`.
        message: String,
    },
    /// The connection failed or closed.
    #[error("transport: {0}")]
    Transport(String),
    /// The answer was not the JSON-RPC the call expects.
    #[error("bad response: {0}")]
    Decode(String),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

impl RpcFailure {
    /// The JSON-RPC error code, if the node sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            RpcFailure::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The bucket the report counts this failure in.
    pub fn class(&self) -> ErrorClass {
        match self {
            RpcFailure::Rpc { code, message } => ErrorClass {
                code: Some(*code),
                class: message_class(message),
            },
            RpcFailure::Transport(m) => ErrorClass {
                code: None,
                class: format!("transport: {}", message_class(m)),
            },
            RpcFailure::Decode(_) => ErrorClass {
                code: None,
                class: "bad response".into(),
            },
            RpcFailure::Timeout(_) => ErrorClass {
                code: None,
                class: "timeout".into(),
            },
        }
    }

    /// EIP-7966 code 4: the transaction was accepted but not preconfirmed in time; it may
    /// still be included, so the end-of-run receipt check looks for it.
    pub fn was_accepted(&self) -> bool {
        self.code() == Some(4)
    }
}

/// What errors are counted by: the JSON-RPC code and the message with its variable parts
/// (numbers, hex, addresses) masked, so `nonce too low: next nonce 7, tx nonce 3` and
/// `nonce too low: next nonce 9, tx nonce 1` are one kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ErrorClass {
    /// JSON-RPC code; absent for transport failures and timeouts.
    pub code: Option<i64>,
    /// Normalised message.
    pub class: String,
}

/// Longest message class kept, in characters.
const MAX_CLASS_LEN: usize = 96;

/// Masks the variable parts of an error message: hex strings become `0x…`, digit runs `N`.
pub fn message_class(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_CLASS_LEN));
    let mut chars = message.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if out.chars().count() >= MAX_CLASS_LEN {
            out.push('…');
            break;
        }
        if c == '0' && chars.peek().is_some_and(|n| *n == 'x' || *n == 'X') {
            chars.next();
            while chars.peek().is_some_and(|n| n.is_ascii_hexdigit()) {
                chars.next();
            }
            out.push_str("0x…");
        } else if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_digit() || *n == '.')
            {
                chars.next();
            }
            out.push('N');
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_classed_without_their_numbers() {
        assert_eq!(
            message_class("nonce too low: next nonce 7, tx nonce 3"),
            message_class("nonce too low: next nonce 19, tx nonce 11")
        );
        assert_eq!(
            message_class("insufficient funds for 0xAbC123 have 5"),
            "insufficient funds for 0x… have N"
        );
        let long = "x".repeat(500);
        assert!(message_class(&long).chars().count() <= MAX_CLASS_LEN + 1);
    }

    #[test]
    fn failures_carry_their_code() {
        let f = RpcFailure::Rpc {
            code: -32000,
            message: "nonce too low: next nonce 2".into(),
        };
        assert_eq!(f.class().code, Some(-32000));
        assert!(!f.was_accepted());
        let t = RpcFailure::Rpc {
            code: 4,
            message: "timeout".into(),
        };
        assert!(t.was_accepted());
        assert_eq!(
            RpcFailure::Timeout(Duration::from_secs(1)).class().class,
            "timeout"
        );
    }
}

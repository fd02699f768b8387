//! RPC-side metrics: ingress outcomes and latency, subscribers.

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use peregrine_chain::IngressError;

/// Every refusal label, registered at start so each series exists (at zero) before the
/// first refusal.
const REASONS: &[&str] = &[
    "oversized",
    "decode",
    "unsupported_type",
    "not_replay_protected",
    "chain_id",
    "signature",
    "intrinsic_gas",
    "gas_limit",
    "tip_above_fee_cap",
    "fee_cap_too_low",
    "nonce_too_low",
    "insufficient_funds",
    "cost_overflow",
    "tx_gas_cap",
    "replacement_underpriced",
    "nonce_in_flight",
    "nonce_too_far_ahead",
    "sender_busy",
    "already_known",
    "busy",
    "l1_backlog",
    "shutting_down",
    "failed",
];
/// Subscription kinds, for the same reason.
const KINDS: &[&str] = &[
    "newHeads",
    "miniBlocks",
    "preconfirmations",
    "stateChanges",
    "logs",
];

/// The bounded label value for a refusal.
fn reason(e: &IngressError) -> &'static str {
    match e {
        IngressError::Oversized { .. } => "oversized",
        IngressError::Decode(_) => "decode",
        IngressError::UnsupportedType(_) => "unsupported_type",
        IngressError::NotReplayProtected => "not_replay_protected",
        IngressError::WrongChainId { .. } => "chain_id",
        IngressError::InvalidSignature(_) => "signature",
        IngressError::IntrinsicGas { .. } => "intrinsic_gas",
        IngressError::GasLimit { .. } => "gas_limit",
        IngressError::TipAboveFeeCap => "tip_above_fee_cap",
        IngressError::FeeCapTooLow { .. } => "fee_cap_too_low",
        IngressError::NonceTooLow { .. } => "nonce_too_low",
        IngressError::InsufficientFunds { .. } => "insufficient_funds",
        IngressError::CostOverflow => "cost_overflow",
        IngressError::TxGasCap { .. } => "tx_gas_cap",
        IngressError::ReplacementUnderpriced { .. } => "replacement_underpriced",
        IngressError::NonceInFlight { .. } => "nonce_in_flight",
        IngressError::NonceTooFarAhead { .. } => "nonce_too_far_ahead",
        IngressError::SenderBusy { .. } => "sender_busy",
        IngressError::AlreadyKnown(_) => "already_known",
        IngressError::Busy => "busy",
        IngressError::L1Backlog { .. } => "l1_backlog",
        IngressError::ShuttingDown => "shutting_down",
        IngressError::Failed(_) => "failed",
    }
}

/// Handles registered when the RPC server starts.
#[derive(Debug, Clone)]
pub(crate) struct RpcMetrics {
    accepted: Counter,
    ingress: Histogram,
}

impl RpcMetrics {
    pub(crate) fn new() -> Self {
        for reason in REASONS {
            counter!("peregrine_transactions_rejected_total", "reason" => *reason).absolute(0);
        }
        for kind in KINDS {
            gauge!("peregrine_subscribers", "kind" => *kind).increment(0.0);
        }
        for why in ["buffer_full", "lagged"] {
            counter!("peregrine_subscribers_dropped_total", "reason" => why).absolute(0);
        }
        for why in ["per_ip", "origin"] {
            counter!("peregrine_rpc_connections_refused_total", "reason" => why).absolute(0);
        }
        Self {
            accepted: counter!("peregrine_transactions_accepted_total"),
            ingress: histogram!("peregrine_ingress_seconds"),
        }
    }

    /// Records one submission: outcome and the time ingress took (decode, recovery,
    /// checks, ring push).
    pub(crate) fn submitted<T>(&self, result: &Result<T, IngressError>, seconds: f64) {
        self.ingress.record(seconds);
        match result {
            Ok(_) => self.accepted.increment(1),
            // Off the sequencer core; the label set is bounded by `reason`.
            Err(e) => counter!("peregrine_transactions_rejected_total", "reason" => reason(e))
                .increment(1),
        }
    }
}

/// Counts a live subscription for as long as it is held.
#[derive(Debug)]
pub(crate) struct SubscriberGuard(Gauge);

impl SubscriberGuard {
    pub(crate) fn new(kind: &'static str) -> Self {
        let g = gauge!("peregrine_subscribers", "kind" => kind);
        g.increment(1.0);
        Self(g)
    }
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Counts a connection refused: `per_ip` (`rpc.max-connections-per-ip`) or `origin`
/// (`rpc.ws-origins`).
pub(crate) fn connection_refused(why: &'static str) {
    counter!("peregrine_rpc_connections_refused_total", "reason" => why).increment(1);
}

/// Counts a subscriber closed for being too slow.
pub(crate) fn slow_consumer_dropped(why: &'static str) {
    counter!("peregrine_subscribers_dropped_total", "reason" => why).increment(1);
}

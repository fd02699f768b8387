//! Ingress: decode, check and recover transactions off the sequencer core, then hand them
//! to the ring.
//!
//! [`Ingress`] is a cheap handle; every RPC task calls [`Ingress::submit`] on its own
//! tokio worker, so decoding and signature recovery (~40 µs with libsecp256k1) run in
//! parallel across workers, never on the sequencer thread.

use crate::{
    chain::Chain,
    clock::now_us,
    error::IngressError,
    exec::SPEC,
    feed::TxStatus,
    inflight::{Fees, PRICE_BUMP_PERCENT},
    ring::Producer,
    sequencer_loop::next_base_fee,
    tx::PendingTx,
};
use alloy_consensus::{Transaction as _, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::Decodable2718;
use alloy_primitives::{B256, U256};
use revm::context_interface::cfg::gas::calculate_initial_tx_gas_for_tx;
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// Limits ingress enforces.
#[derive(Debug, Clone, Copy)]
pub struct IngressLimits {
    /// Chain id.
    pub chain_id: u64,
    /// Largest raw transaction accepted, in bytes.
    pub max_tx_size: usize,
    /// Block gas limit.
    pub block_gas_limit: u64,
    /// Base fee floor.
    pub min_base_fee: u64,
    /// Most gas one transaction may use (EIP-7825).
    pub max_tx_gas: u64,
    /// Most future nonces held per sender (the gap queue's bound).
    pub max_queued_per_sender: usize,
    /// Most transactions one sender may have in flight (ring, gap queue, log).
    pub max_inflight_per_sender: usize,
}

/// Front door of the sequencer (cheap to clone).
#[derive(Debug, Clone)]
pub struct Ingress {
    producer: Producer<PendingTx>,
    chain: Arc<Chain>,
    limits: IngressLimits,
    stopping: Arc<AtomicBool>,
    fault: crate::fault::Fault,
}

impl Ingress {
    pub(crate) fn new(
        producer: Producer<PendingTx>,
        chain: Arc<Chain>,
        limits: IngressLimits,
        stopping: Arc<AtomicBool>,
        fault: crate::fault::Fault,
    ) -> Self {
        Self {
            producer,
            chain,
            limits,
            stopping,
            fault,
        }
    }

    /// Why no transaction is taken any more: a failure, or a shutdown.
    fn refusal(&self) -> IngressError {
        match self.fault.get() {
            Some(why) => IngressError::Failed(why.clone()),
            None => IngressError::ShuttingDown,
        }
    }

    /// Slots in use in the ring (for metrics and back-pressure decisions).
    pub fn ring_len(&self) -> usize {
        self.producer.len()
    }

    /// Stateless checks and sender recovery.
    pub fn decode(&self, raw: &[u8]) -> Result<PendingTx, IngressError> {
        let received_us = now_us();
        let limits = &self.limits;
        if raw.len() > limits.max_tx_size {
            return Err(IngressError::Oversized {
                size: raw.len(),
                limit: limits.max_tx_size,
            });
        }
        if raw.is_empty() {
            return Err(IngressError::Decode("empty transaction".into()));
        }
        let mut buf = raw;
        let envelope =
            TxEnvelope::decode_2718(&mut buf).map_err(|e| IngressError::Decode(e.to_string()))?;
        if !buf.is_empty() {
            return Err(IngressError::Decode(format!(
                "{} trailing bytes after the transaction",
                buf.len()
            )));
        }
        if envelope.is_eip4844() {
            return Err(IngressError::UnsupportedType(
                "EIP-4844 blob transactions are not accepted by this chain",
            ));
        }
        match envelope.chain_id() {
            None => return Err(IngressError::NotReplayProtected),
            Some(id) if id != limits.chain_id => {
                return Err(IngressError::WrongChainId {
                    expected: limits.chain_id,
                    got: id,
                });
            }
            Some(_) => {}
        }
        if let Some(tip) = envelope.max_priority_fee_per_gas()
            && tip > envelope.max_fee_per_gas()
        {
            return Err(IngressError::TipAboveFeeCap);
        }
        if envelope.gas_limit() > limits.max_tx_gas {
            return Err(IngressError::TxGasCap {
                gas: envelope.gas_limit(),
                limit: limits.max_tx_gas,
            });
        }
        if envelope.gas_limit() > limits.block_gas_limit {
            return Err(IngressError::GasLimit {
                gas: envelope.gas_limit(),
                limit: limits.block_gas_limit,
            });
        }
        let sender = envelope
            .recover_signer()
            .map_err(|e| IngressError::InvalidSignature(e.to_string()))?;
        let tx = PendingTx::new(envelope, sender, received_us);
        let gas = calculate_initial_tx_gas_for_tx(&tx.tx_env, SPEC, None);
        let needed = (gas.initial_regular_gas + gas.initial_state_gas).max(gas.floor_gas);
        if tx.tx_env.gas_limit < needed {
            return Err(IngressError::IntrinsicGas {
                gas: tx.tx_env.gas_limit,
                needed,
            });
        }
        Ok(tx)
    }

    /// Checks against the pending state: duplicates, nonce, balance, base fee. Returns the
    /// sender's next nonce at `pending`.
    pub fn check_state(&self, tx: &PendingTx) -> Result<u64, IngressError> {
        let (base_fee, next) = {
            let pending = self.chain.pending.read();
            if pending.open.by_hash.contains_key(&tx.hash) {
                return Err(IngressError::AlreadyKnown(tx.hash));
            }
            let (next, balance) = pending
                .state
                .account(&tx.sender)
                .map_or((0, U256::ZERO), |a| (a.nonce, a.balance));
            if tx.nonce() < next {
                return Err(IngressError::NonceTooLow {
                    next,
                    nonce: tx.nonce(),
                });
            }
            let cost = tx_cost(tx).ok_or(IngressError::CostOverflow)?;
            if balance < cost {
                return Err(IngressError::InsufficientFunds { balance, cost });
            }
            let base_fee = match pending.open.ctx {
                Some(ctx) => ctx.base_fee,
                None => self.pending_base_fee(),
            };
            (base_fee, next)
        };
        if tx.envelope.max_fee_per_gas() < u128::from(base_fee) {
            return Err(IngressError::FeeCapTooLow {
                max_fee: tx.envelope.max_fee_per_gas(),
                base_fee,
            });
        }
        // No store lookup by hash: a stored transaction's nonce is below its sender's
        // pending nonce (the pending view covers every stored block), so a resubmission of
        // one was refused as `NonceTooLow` above. The lookup (a redb read transaction)
        // was ~4 % of the RPC threads' time at saturation.
        Ok(next)
    }

    /// Admits `tx` to the in-flight set, or says why it would be dropped: a duplicate, a
    /// nonce already on its way (a replacement needs the price bump, and only one held
    /// for a gap can be replaced), a nonce further ahead than the gap queue holds, or a
    /// sender with too many transactions in flight.
    fn admit(&self, tx: &PendingTx, next: u64) -> Result<Option<(B256, Fees)>, IngressError> {
        let limits = &self.limits;
        let fees = Fees {
            max_fee: tx.envelope.max_fee_per_gas(),
            tip: tx
                .envelope
                .max_priority_fee_per_gas()
                .unwrap_or(tx.envelope.max_fee_per_gas()),
        };
        let nonce = tx.nonce();
        let mut inflight = self.chain.inflight.lock();
        // Read again under the in-flight lock: the chain service applies a mini-block to
        // the pending view before it takes that mini-block's transactions out of the set,
        // so here none has left the set without being counted in `next`. (`next` from
        // before the lock could miss a mini-block whose transactions had already left.)
        let (next, applied) = {
            let pending = self.chain.pending.read();
            let next = pending
                .state
                .account(&tx.sender)
                .map_or(next, |a| a.nonce.max(next));
            (next, pending.open.by_hash.contains_key(&tx.hash))
        };
        // Both may have changed since `check_state` (the same transaction sent twice at
        // once, one of them just executed): refused now, not dropped later.
        if applied {
            return Err(IngressError::AlreadyKnown(tx.hash));
        }
        if nonce < next {
            return Err(IngressError::NonceTooLow { next, nonce });
        }
        if inflight.contains(&tx.hash) {
            return Err(IngressError::AlreadyKnown(tx.hash));
        }
        let in_flight = inflight.count(&tx.sender);
        match inflight.at_nonce(&tx.sender, nonce) {
            Some((held, old)) => {
                // Held for a gap, and the gap still open: once every nonce before it is
                // in flight the held one executes and a replacement would be dropped.
                let queued = matches!(self.chain.tx_status(&held), Some(TxStatus::Queued { .. }))
                    && !inflight.gap_closed(&tx.sender, next, nonce);
                if !queued {
                    return Err(IngressError::NonceInFlight { nonce });
                }
                if !fees.bumps(&old) {
                    return Err(IngressError::ReplacementUnderpriced {
                        bump_percent: PRICE_BUMP_PERCENT,
                    });
                }
            }
            None => {
                if in_flight >= limits.max_inflight_per_sender {
                    return Err(IngressError::SenderBusy {
                        in_flight,
                        limit: limits.max_inflight_per_sender,
                    });
                }
                let reach = next
                    .saturating_add(in_flight as u64)
                    .saturating_add(limits.max_queued_per_sender as u64);
                if nonce >= reach {
                    return Err(IngressError::NonceTooFarAhead {
                        next,
                        in_flight,
                        nonce,
                        limit: limits.max_queued_per_sender,
                    });
                }
            }
        }
        inflight
            .insert(tx.hash, tx.sender, nonce, fees)
            .map_err(|()| IngressError::AlreadyKnown(tx.hash))
    }

    /// The configured base fee floor.
    pub fn min_base_fee(&self) -> u64 {
        self.limits.min_base_fee
    }

    /// The base fee the next block will have if none is open yet.
    pub fn pending_base_fee(&self) -> u64 {
        let head = self.chain.head().header;
        next_base_fee(
            head.gas_used,
            head.gas_limit,
            head.base_fee_per_gas.unwrap_or(self.limits.min_base_fee),
            self.limits.min_base_fee,
        )
    }

    /// Decodes, checks and enqueues a raw transaction; returns its hash.
    pub fn submit(&self, raw: &[u8]) -> Result<B256, IngressError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(self.refusal());
        }
        self.submit_decoded(self.decode(raw)?)
    }

    /// Checks and enqueues a transaction already decoded with [`Ingress::decode`].
    pub fn submit_decoded(&self, tx: PendingTx) -> Result<B256, IngressError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(self.refusal());
        }
        if let Some((bytes, limit)) = self.chain.l1.backlog_over() {
            return Err(IngressError::L1Backlog { bytes, limit });
        }
        let next = self.check_state(&tx)?;
        let hash = tx.hash;
        let displaced = self.admit(&tx, next)?;
        if self.producer.try_push(tx).is_err() {
            self.chain.inflight.lock().undo_insert(&hash, displaced);
            return Err(IngressError::Busy);
        }
        Ok(hash)
    }
}

/// gas limit × fee cap + value, or `None` where it does not fit in 256 bits (a value
/// near 2²⁵⁶ must not wrap around to a small cost that an empty account can pay).
fn tx_cost(tx: &PendingTx) -> Option<U256> {
    U256::from(tx.tx_env.gas_limit)
        .checked_mul(U256::from(tx.tx_env.gas_price))?
        .checked_add(tx.tx_env.value)
}

impl peregrine_chain::TxSink for Ingress {
    fn decode(&self, raw: &[u8]) -> Result<PendingTx, IngressError> {
        Ingress::decode(self, raw)
    }

    fn submit_decoded(&self, tx: PendingTx) -> Result<B256, IngressError> {
        Ingress::submit_decoded(self, tx)
    }

    fn pending_base_fee(&self) -> u64 {
        Ingress::pending_base_fee(self)
    }

    fn min_base_fee(&self) -> u64 {
        Ingress::min_base_fee(self)
    }
}

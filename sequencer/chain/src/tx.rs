//! Transactions as they travel through the pipeline: decoded and recovered at ingress
//! ([`PendingTx`]), executed by the sequencer loop ([`ExecutedTx`]).

use alloy_consensus::{ReceiptEnvelope, Transaction as _, TxEnvelope};
use alloy_eips::Typed2718;
use alloy_primitives::{Address, B256, TxKind};
use revm::context::{TxEnv, either::Either};

/// A decoded, signature-checked transaction waiting in the ring for the sequencer loop.
#[derive(Debug, Clone)]
pub struct PendingTx {
    /// Transaction hash (keccak of the EIP-2718 encoding).
    pub hash: B256,
    /// Recovered sender.
    pub sender: Address,
    /// The signed transaction.
    pub envelope: TxEnvelope,
    /// revm's view of it, built at ingress so the sequencer loop does not have to.
    pub tx_env: TxEnv,
    /// When ingress received it, in microseconds since the Unix epoch.
    pub received_us: u64,
}

impl PendingTx {
    /// Builds the pending transaction from a recovered envelope.
    pub fn new(envelope: TxEnvelope, sender: Address, received_us: u64) -> Self {
        let tx_env = tx_env(&envelope, sender);
        Self {
            hash: *envelope.tx_hash(),
            sender,
            envelope,
            tx_env,
            received_us,
        }
    }

    /// The transaction's nonce.
    pub fn nonce(&self) -> u64 {
        self.tx_env.nonce
    }
}

/// Converts a signed transaction and its sender into revm's `TxEnv`.
pub fn tx_env(envelope: &TxEnvelope, sender: Address) -> TxEnv {
    let access_list = envelope.access_list().cloned().unwrap_or_default();
    // EIP-7702 authorities are recovered here, at ingress (one secp256k1 recovery each,
    // ~40 µs), not by revm on the sequencer thread. An invalid signature recovers to
    // `RecoveredAuthority::Invalid`, which revm skips, as it would have.
    let authorization_list = envelope
        .authorization_list()
        .map(|list| {
            list.iter()
                .cloned()
                .map(|auth| Either::Right(auth.into_recovered()))
                .collect()
        })
        .unwrap_or_default();
    TxEnv {
        tx_type: envelope.ty(),
        caller: sender,
        gas_limit: envelope.gas_limit(),
        gas_price: envelope.max_fee_per_gas(),
        kind: match envelope.kind() {
            TxKind::Create => TxKind::Create,
            TxKind::Call(to) => TxKind::Call(to),
        },
        value: envelope.value(),
        data: envelope.input().clone(),
        nonce: envelope.nonce(),
        chain_id: envelope.chain_id(),
        access_list,
        gas_priority_fee: envelope.max_priority_fee_per_gas(),
        blob_hashes: Vec::new(),
        max_fee_per_blob_gas: 0,
        authorization_list,
    }
}

/// A transaction after execution: its place in the chain and its receipt.
#[derive(Debug, Clone)]
pub struct ExecutedTx {
    /// Global sequence number (gap-free, starting at 0 with the first transaction ever).
    pub seq: u64,
    /// Transaction hash.
    pub hash: B256,
    /// Recovered sender.
    pub sender: Address,
    /// The signed transaction.
    pub envelope: TxEnvelope,
    /// Receipt with its logs bloom; `cumulative_gas_used` counts from the start of the L2 block.
    pub receipt: ReceiptEnvelope,
    /// Gas used by this transaction alone.
    pub gas_used: u64,
    /// Price per gas actually paid.
    pub effective_gas_price: u128,
    /// Address of the created contract, for a successful creation.
    pub contract_address: Option<Address>,
    /// Index of the transaction in its L2 block.
    pub index_in_block: u32,
    /// Block-wide index of its first log.
    pub first_log_index: u64,
    /// Received at ingress, µs since the Unix epoch.
    pub received_us: u64,
    /// Taken from the ring by the sequencer loop (its position fixed), µs since the Unix epoch.
    pub ordered_us: u64,
    /// Executed by the sequencer loop, µs since the Unix epoch.
    pub executed_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{SignableTransaction, TxEip7702};
    use alloy_eips::eip7702::Authorization;
    use alloy_primitives::{U256, address};
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    #[test]
    fn eip_7702_authorities_are_recovered_at_ingress() {
        let sender = PrivateKeySigner::random();
        let authority = PrivateKeySigner::random();
        let auth = Authorization {
            chain_id: U256::from(901),
            address: address!("00000000000000000000000000000000000000aa"),
            nonce: 0,
        };
        let signed = {
            let sig = authority.sign_hash_sync(&auth.signature_hash()).unwrap();
            auth.clone().into_signed(sig)
        };
        // A signature over something else recovers to another address, or to none.
        let forged = {
            let sig = authority.sign_hash_sync(&B256::repeat_byte(7)).unwrap();
            auth.into_signed(sig)
        };
        let tx = TxEip7702 {
            chain_id: 901,
            nonce: 0,
            gas_limit: 100_000,
            max_fee_per_gas: 1,
            max_priority_fee_per_gas: 0,
            to: address!("00000000000000000000000000000000000000bb"),
            authorization_list: vec![signed, forged],
            ..Default::default()
        };
        let sig = sender.sign_hash_sync(&tx.signature_hash()).unwrap();
        let pending = PendingTx::new(TxEnvelope::from(tx.into_signed(sig)), sender.address(), 0);
        let authorities: Vec<_> = pending
            .tx_env
            .authorization_list
            .iter()
            .map(|a| match a {
                Either::Right(recovered) => recovered.authority(),
                Either::Left(_) => panic!("left for revm to recover on the sequencer thread"),
            })
            .collect();
        assert_eq!(authorities[0], Some(authority.address()));
        assert_ne!(authorities[1], Some(authority.address()));
    }
}

//! The transactions of a run, signed before the clock starts.
//!
//! Transaction `i` is sent by account `i mod N` with that account's next nonce, so every
//! account's transactions go out in nonce order; its kind (ETH transfer or ERC-20
//! `transfer`) follows `--mix` in a smooth weighted round-robin, so any stretch of the run
//! has the configured blend. Each one is stored as the complete JSON-RPC request text, built
//! once, so the measured loop only copies bytes.

use crate::{
    accounts::Account,
    config::{Mix, SendMethod},
    rpc::wire::TX_ID_BASE,
};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{
    Address, B256, Bytes, TxKind as CallKind, U256, hex, keccak256, map::B256HashMap,
};
use std::{fmt::Write, thread};

/// Gas limit of an ETH transfer.
pub(crate) const ETH_TRANSFER_GAS: u64 = 21_000;
/// Gas limit of an ERC-20 `transfer` (it uses about 35k to an address already holding tokens).
pub(crate) const ERC20_TRANSFER_GAS: u64 = 90_000;
/// Wei moved by each ETH transfer.
pub(crate) const ETH_TRANSFER_VALUE: u64 = 1;
/// Token units moved by each ERC-20 transfer.
pub(crate) const ERC20_TRANSFER_AMOUNT: u64 = 1;
/// Longest mix pattern (the reduced weights' sum).
const MAX_PATTERN: u64 = 10_000;

/// What a transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxKind {
    /// 1 wei to the next load account.
    Eth,
    /// 1 token unit to the next load account.
    Erc20,
}

/// Fee caps for every transaction of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fees {
    pub(crate) max_fee_per_gas: u128,
    pub(crate) max_priority_fee_per_gas: u128,
}

/// One pre-signed transaction.
#[derive(Debug)]
pub(crate) struct PreparedTx {
    pub(crate) hash: B256,
    pub(crate) account: u32,
    pub(crate) nonce: u64,
    pub(crate) kind: TxKind,
    /// The complete JSON-RPC request, id `TX_ID_BASE + index`.
    pub(crate) request: Box<[u8]>,
}

/// Everything the measured run sends.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) txs: Vec<PreparedTx>,
    /// Transaction hash → index (built for `--send async`, where preconfirmations arrive by hash).
    pub(crate) by_hash: Option<B256HashMap<u32>>,
}

/// The inputs of [`Workload::build`].
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    pub(crate) accounts: &'a [Account],
    /// Next nonce of each account.
    pub(crate) nonces: &'a [u64],
    pub(crate) count: u64,
    pub(crate) mix: Mix,
    pub(crate) chain_id: u64,
    pub(crate) fees: Fees,
    /// The token contract, when the mix has ERC-20 transfers.
    pub(crate) token: Option<Address>,
    pub(crate) send: SendMethod,
}

/// The kind sequence of a mix, one period long.
pub(crate) fn mix_pattern(mix: Mix) -> Vec<TxKind> {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let (mut e, mut t) = (u64::from(mix.eth), u64::from(mix.erc20));
    let g = gcd(e, t).max(1);
    e /= g;
    t /= g;
    while e + t > MAX_PATTERN {
        e = e.div_ceil(2);
        t = t.div_ceil(2);
    }
    // Smooth weighted round-robin (as nginx balances upstreams): evenly interleaved.
    let total = (e + t) as i64;
    let (mut ce, mut ct) = (0i64, 0i64);
    (0..total)
        .map(|_| {
            ce += e as i64;
            ct += t as i64;
            if ce >= ct {
                ce -= total;
                TxKind::Eth
            } else {
                ct -= total;
                TxKind::Erc20
            }
        })
        .collect()
}

/// Calldata of `transfer(to, amount)`.
pub(crate) fn erc20_transfer_calldata(to: Address, amount: U256) -> Bytes {
    let mut data = Vec::with_capacity(68);
    data.extend_from_slice(&keccak256("transfer(address,uint256)")[..4]);
    data.extend_from_slice(B256::left_padding_from(to.as_slice()).as_slice());
    data.extend_from_slice(&amount.to_be_bytes::<32>());
    data.into()
}

/// Signs `tx` with `key`: the EIP-2718 bytes and the hash.
pub(crate) fn sign(tx: TxEip1559, key: B256) -> (Vec<u8>, B256) {
    let sig = alloy_consensus::crypto::secp256k1::sign_message(key, tx.signature_hash())
        .expect("load keys are valid secp256k1 scalars");
    let envelope: TxEnvelope = tx.into_signed(sig).into();
    let raw = envelope.encoded_2718();
    let hash = keccak256(&raw);
    (raw, hash)
}

impl Plan<'_> {
    /// How many transactions each account sends and of which kinds: `(eth, erc20)` per account.
    pub(crate) fn per_account(&self) -> Vec<(u64, u64)> {
        let n = self.accounts.len() as u64;
        let pattern = mix_pattern(self.mix);
        let mut out = vec![(0u64, 0u64); self.accounts.len()];
        // Exact for small runs; for large ones count one full period and scale.
        for i in 0..self.count {
            let a = (i % n) as usize;
            match pattern[(i % pattern.len() as u64) as usize] {
                TxKind::Eth => out[a].0 += 1,
                TxKind::Erc20 => out[a].1 += 1,
            }
        }
        out
    }

    fn prepare(&self, i: u64, pattern: &[TxKind]) -> PreparedTx {
        let n = self.accounts.len() as u64;
        let a = (i % n) as usize;
        let account = &self.accounts[a];
        let next = &self.accounts[(a + 1) % self.accounts.len()];
        let nonce = self.nonces[a] + i / n;
        let kind = pattern[(i % pattern.len() as u64) as usize];
        let (to, value, input, gas_limit) = match (kind, self.token) {
            (TxKind::Erc20, Some(token)) => (
                token,
                U256::ZERO,
                erc20_transfer_calldata(next.address, U256::from(ERC20_TRANSFER_AMOUNT)),
                ERC20_TRANSFER_GAS,
            ),
            _ => (
                next.address,
                U256::from(ETH_TRANSFER_VALUE),
                Bytes::new(),
                ETH_TRANSFER_GAS,
            ),
        };
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: self.fees.max_fee_per_gas,
            max_priority_fee_per_gas: self.fees.max_priority_fee_per_gas,
            to: CallKind::Call(to),
            value,
            access_list: Default::default(),
            input,
        };
        let (raw, hash) = sign(tx, account.key);
        let mut request = String::with_capacity(96 + raw.len() * 2);
        write!(
            request,
            r#"{{"jsonrpc":"2.0","id":{},"method":"{}","params":["0x{}"]}}"#,
            TX_ID_BASE + i,
            self.send.rpc_method(),
            hex::encode(&raw)
        )
        .expect("writing to a String cannot fail");
        PreparedTx {
            hash,
            account: a as u32,
            nonce,
            kind,
            request: request.into_bytes().into_boxed_slice(),
        }
    }
}

impl Workload {
    /// Signs every transaction of `plan`, on all cores.
    pub(crate) fn build(plan: &Plan<'_>) -> Workload {
        let pattern = mix_pattern(plan.mix);
        let threads = thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let chunk = plan.count.div_ceil(threads).max(1);
        let mut txs: Vec<PreparedTx> = Vec::with_capacity(plan.count as usize);
        thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let pattern = &pattern;
                    let start = (t * chunk).min(plan.count);
                    let end = ((t + 1) * chunk).min(plan.count);
                    thread::Builder::new()
                        .name(format!("loadtest-sign-{t}"))
                        .spawn_scoped(s, move || {
                            (start..end)
                                .map(|i| plan.prepare(i, pattern))
                                .collect::<Vec<_>>()
                        })
                        .expect("spawn a signing thread")
                })
                .collect();
            for h in handles {
                txs.extend(h.join().expect("signing thread panicked"));
            }
        });
        let by_hash = (plan.send == SendMethod::Async).then(|| {
            txs.iter()
                .enumerate()
                .map(|(i, t)| (t.hash, i as u32))
                .collect()
        });
        Workload { txs, by_hash }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::dev_accounts;

    #[test]
    fn mixes_interleave_evenly() {
        let p = mix_pattern(Mix { eth: 80, erc20: 20 });
        assert_eq!(p.len(), 5);
        assert_eq!(p.iter().filter(|k| **k == TxKind::Erc20).count(), 1);
        let p = mix_pattern(Mix { eth: 1, erc20: 1 });
        assert_eq!(p, vec![TxKind::Eth, TxKind::Erc20]);
        assert_eq!(mix_pattern(Mix { eth: 0, erc20: 3 }), vec![TxKind::Erc20]);
        assert!(
            mix_pattern(Mix {
                eth: 999_983,
                erc20: 1
            })
            .len() as u64
                <= MAX_PATTERN
        );
    }

    #[test]
    fn transactions_are_signed_in_nonce_order_per_account() {
        let accounts = dev_accounts(3);
        let plan = Plan {
            accounts: &accounts,
            nonces: &[5, 0, 2],
            count: 10,
            mix: Mix { eth: 1, erc20: 1 },
            chain_id: 901,
            fees: Fees {
                max_fee_per_gas: 1_000_000_000,
                max_priority_fee_per_gas: 1,
            },
            token: Some(Address::repeat_byte(7)),
            send: SendMethod::Async,
        };
        let w = Workload::build(&plan);
        assert_eq!(w.txs.len(), 10);
        assert_eq!((w.txs[0].account, w.txs[0].nonce), (0, 5));
        assert_eq!((w.txs[3].account, w.txs[3].nonce), (0, 6));
        assert_eq!((w.txs[2].account, w.txs[2].nonce), (2, 2));
        assert_eq!(w.txs[1].kind, TxKind::Erc20);
        let map = w.by_hash.as_ref().unwrap();
        assert_eq!(map[&w.txs[7].hash], 7);
        let text = std::str::from_utf8(&w.txs[4].request).unwrap();
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["id"], TX_ID_BASE + 4);
        assert_eq!(v["method"], "eth_sendRawTransaction");
        let raw = hex::decode(v["params"][0].as_str().unwrap()).unwrap();
        assert_eq!(keccak256(&raw), w.txs[4].hash);
        let counts = plan.per_account();
        assert_eq!(counts.iter().map(|c| c.0 + c.1).sum::<u64>(), 10);
    }

    #[test]
    fn transfer_calldata_is_abi_encoded() {
        let data = erc20_transfer_calldata(Address::repeat_byte(0xab), U256::from(1));
        assert_eq!(&data[..4], &[0xa9, 0x05, 0x9c, 0xbb]);
        assert_eq!(data.len(), 68);
        assert_eq!(data[67], 1);
        assert_eq!(&data[16..36], Address::repeat_byte(0xab).as_slice());
    }
}

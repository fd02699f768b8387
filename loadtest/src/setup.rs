//! Everything before the clock starts: identify the target, pick fee caps, fund the load
//! accounts where the target did not prefund them, deploy the ERC-20 token and mint to every
//! load account, and read each account's next nonce.

use crate::{
    accounts::Account,
    error::{LoadError, LoadResult},
    rpc::Client,
    workload::{self, Fees},
};
use alloy_consensus::TxEip1559;
use alloy_primitives::{Address, B256, Bytes, TxKind as CallKind, U64, U256, hex, keccak256};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::{Duration, Instant};

/// The token's creation bytecode (see `loadtest/contracts/`).
const LOAD_TOKEN_BIN: &str = include_str!("../contracts/LoadToken.bin");
/// Token units minted to each load account.
const MINT_PER_ACCOUNT: u128 = 1_000_000_000_000_000_000_000_000;
/// Accounts per `mintBatch` call (about 25k gas each).
const MINT_CHUNK: usize = 200;
/// Gas limit of the token deployment.
const DEPLOY_GAS: u64 = 1_500_000;
/// Gas limit of one funding transfer.
const FUND_GAS: u64 = 21_000;
/// How long a setup transaction may take to get its receipt.
const SETUP_RECEIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between receipt polls during setup.
const SETUP_POLL: Duration = Duration::from_millis(25);
/// One gwei.
const GWEI: u128 = 1_000_000_000;

/// Which node software answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// `peregrine/…`: preconfirmations, stage timestamps, `eth_sendRawTransactionSync`.
    Peregrine,
    /// Foundry's anvil.
    Anvil,
    /// Anything else.
    Unknown,
}

impl TargetKind {
    /// Lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            TargetKind::Peregrine => "peregrine",
            TargetKind::Anvil => "anvil",
            TargetKind::Unknown => "unknown",
        }
    }
}

/// What the probe learned.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) kind: TargetKind,
    pub(crate) client_version: String,
    pub(crate) chain_id: u64,
}

/// A receipt, as much as the harness reads of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReceiptLite {
    #[serde(default)]
    pub(crate) status: Option<U64>,
    #[serde(default)]
    pub(crate) contract_address: Option<Address>,
    #[serde(default)]
    pub(crate) transaction_hash: Option<B256>,
}

impl ReceiptLite {
    pub(crate) fn succeeded(&self) -> bool {
        self.status.is_none_or(|s| s == U64::from(1))
    }
}

/// Asks the node who it is.
pub(crate) async fn probe(client: &Client) -> LoadResult<Target> {
    let chain_id: U64 = client.must("eth_chainId", json!([])).await?;
    let client_version: String = client
        .call("web3_clientVersion", json!([]))
        .await
        .unwrap_or_default();
    let lower = client_version.to_ascii_lowercase();
    let kind = if lower.starts_with("peregrine") {
        TargetKind::Peregrine
    } else if lower.starts_with("anvil") {
        TargetKind::Anvil
    } else {
        TargetKind::Unknown
    };
    Ok(Target {
        kind,
        client_version,
        chain_id: chain_id.to(),
    })
}

/// Fee caps with head room: ten times the current gas price and at least one gwei above it,
/// so a base fee that climbs during the run (full blocks raise it 12.5% per block) does not
/// price the tail of the run out.
pub(crate) async fn fees(client: &Client) -> LoadResult<Fees> {
    let gas_price: U256 = client.must("eth_gasPrice", json!([])).await?;
    let gas_price: u128 = gas_price.saturating_to();
    let tip: u128 = client
        .call::<U256>("eth_maxPriorityFeePerGas", json!([]))
        .await
        .map(|t| t.saturating_to())
        .unwrap_or(GWEI);
    let max_fee = gas_price.saturating_mul(10).max(gas_price + GWEI);
    Ok(Fees {
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip.min(max_fee),
    })
}

/// Next nonce (`pending`) of each address.
pub(crate) async fn nonces(client: &Client, addresses: &[Address]) -> LoadResult<Vec<u64>> {
    let params: Vec<_> = addresses.iter().map(|a| json!([a, "pending"])).collect();
    client
        .batch::<U64>("eth_getTransactionCount", &params)
        .await
        .map_err(|e| LoadError::rpc("eth_getTransactionCount", e))?
        .into_iter()
        .map(|r| {
            r.map(|n| n.to::<u64>())
                .map_err(|e| LoadError::rpc("eth_getTransactionCount", e))
        })
        .collect()
}

/// Balance (`pending`) of each address.
pub(crate) async fn balances(client: &Client, addresses: &[Address]) -> LoadResult<Vec<U256>> {
    let params: Vec<_> = addresses.iter().map(|a| json!([a, "pending"])).collect();
    client
        .batch::<U256>("eth_getBalance", &params)
        .await
        .map_err(|e| LoadError::rpc("eth_getBalance", e))?
        .into_iter()
        .map(|r| r.map_err(|e| LoadError::rpc("eth_getBalance", e)))
        .collect()
}

/// Sends signed setup transactions one after the other, then waits for all receipts;
/// fails unless every one succeeded.
async fn send_and_confirm(
    client: &Client,
    what: &str,
    signed: Vec<(Vec<u8>, B256)>,
) -> LoadResult<Vec<ReceiptLite>> {
    for (raw, _) in &signed {
        let _: B256 = client
            .call(
                "eth_sendRawTransaction",
                json!([format!("0x{}", hex::encode(raw))]),
            )
            .await
            .map_err(|e| LoadError::Setup(format!("{what}: eth_sendRawTransaction: {e}")))?;
    }
    let hashes: Vec<B256> = signed.iter().map(|(_, h)| *h).collect();
    let receipts = wait_receipts(client, &hashes, SETUP_RECEIPT_TIMEOUT)
        .await
        .map_err(|e| LoadError::Setup(format!("{what}: {e}")))?;
    let mut out = Vec::with_capacity(receipts.len());
    for (hash, r) in hashes.iter().zip(receipts) {
        match r {
            Some(r) if r.succeeded() => out.push(r),
            Some(_) => {
                return Err(LoadError::Setup(format!(
                    "{what}: transaction {hash} reverted"
                )));
            }
            None => {
                return Err(LoadError::Setup(format!(
                    "{what}: no receipt for {hash} within {}",
                    humantime::format_duration(SETUP_RECEIPT_TIMEOUT)
                )));
            }
        }
    }
    Ok(out)
}

/// Polls for receipts until all are found or `timeout` passes; `None` for those not found.
pub(crate) async fn wait_receipts(
    client: &Client,
    hashes: &[B256],
    timeout: Duration,
) -> Result<Vec<Option<ReceiptLite>>, String> {
    let deadline = Instant::now() + timeout;
    let mut found: Vec<Option<ReceiptLite>> = vec![None; hashes.len()];
    loop {
        let missing: Vec<usize> = (0..hashes.len()).filter(|i| found[*i].is_none()).collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let params: Vec<_> = missing.iter().map(|i| json!([hashes[*i]])).collect();
        let results = client
            .batch::<Option<ReceiptLite>>("eth_getTransactionReceipt", &params)
            .await
            .map_err(|e| format!("eth_getTransactionReceipt: {e}"))?;
        for (i, r) in missing.iter().zip(results) {
            if let Ok(Some(r)) = r {
                found[*i] = Some(r);
            }
        }
        if Instant::now() >= deadline {
            return Ok(found);
        }
        tokio::time::sleep(SETUP_POLL).await;
    }
}

/// The funder's plan: what each under-funded account needs.
#[derive(Debug, Default)]
pub(crate) struct Funding {
    /// Accounts topped up.
    pub(crate) funded: usize,
    /// Wei sent in all.
    pub(crate) total: U256,
}

/// Tops up every load account whose balance is below `need[i]` to twice its need, from the
/// funder. Targets that prefund the accounts (`peregrine dev --dev.accounts`) get none.
pub(crate) async fn fund(
    client: &Client,
    chain_id: u64,
    fees: Fees,
    funder: &Account,
    accounts: &[Account],
    need: &[U256],
) -> LoadResult<Funding> {
    let addresses: Vec<Address> = accounts.iter().map(|a| a.address).collect();
    let have = balances(client, &addresses).await?;
    let short: Vec<(usize, U256)> = need
        .iter()
        .zip(&have)
        .enumerate()
        .filter(|(_, (n, h))| h < n)
        .map(|(i, (n, _))| (i, n.saturating_mul(U256::from(2))))
        .collect();
    if short.is_empty() {
        return Ok(Funding::default());
    }
    let total: U256 = short
        .iter()
        .map(|(_, a)| *a)
        .fold(U256::ZERO, |a, b| a.saturating_add(b));
    let funder_balance = balances(client, &[funder.address]).await?[0];
    let fee_total = U256::from(fees.max_fee_per_gas) * U256::from(FUND_GAS * short.len() as u64);
    if funder_balance < total.saturating_add(fee_total) {
        return Err(LoadError::Setup(format!(
            "{} load accounts need {total} wei in all, but the funder {} holds {funder_balance}; \
             use fewer transactions, fewer accounts, or a richer --funder-key",
            short.len(),
            funder.address
        )));
    }
    let mut nonce = nonces(client, &[funder.address]).await?[0];
    let signed: Vec<_> = short
        .iter()
        .map(|(i, amount)| {
            let tx = TxEip1559 {
                chain_id,
                nonce,
                gas_limit: FUND_GAS,
                max_fee_per_gas: fees.max_fee_per_gas,
                max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
                to: CallKind::Call(accounts[*i].address),
                value: *amount,
                access_list: Default::default(),
                input: Bytes::new(),
            };
            nonce += 1;
            workload::sign(tx, funder.key)
        })
        .collect();
    send_and_confirm(client, "funding the load accounts", signed).await?;
    Ok(Funding {
        funded: short.len(),
        total,
    })
}

/// Deploys the ERC-20 token from the funder and mints to every load account.
pub(crate) async fn deploy_token(
    client: &Client,
    chain_id: u64,
    fees: Fees,
    funder: &Account,
    accounts: &[Account],
) -> LoadResult<Address> {
    let code = hex::decode(LOAD_TOKEN_BIN.trim())
        .map_err(|e| LoadError::Setup(format!("LoadToken.bin is not hex: {e}")))?;
    let mut nonce = nonces(client, &[funder.address]).await?[0];
    let deploy = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: DEPLOY_GAS,
        max_fee_per_gas: fees.max_fee_per_gas,
        max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
        to: CallKind::Create,
        value: U256::ZERO,
        access_list: Default::default(),
        input: code.into(),
    };
    nonce += 1;
    let receipts = send_and_confirm(
        client,
        "deploying the ERC-20 token",
        vec![workload::sign(deploy, funder.key)],
    )
    .await?;
    let token = receipts[0]
        .contract_address
        .unwrap_or_else(|| funder.address.create(nonce - 1));
    let selector = &keccak256("mintBatch(address[],uint256)")[..4];
    let mut mints = Vec::new();
    for chunk in accounts.chunks(MINT_CHUNK) {
        let mut data = selector.to_vec();
        data.extend_from_slice(&U256::from(64).to_be_bytes::<32>());
        data.extend_from_slice(&U256::from(MINT_PER_ACCOUNT).to_be_bytes::<32>());
        data.extend_from_slice(&U256::from(chunk.len()).to_be_bytes::<32>());
        for a in chunk {
            data.extend_from_slice(B256::left_padding_from(a.address.as_slice()).as_slice());
        }
        let tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit: 100_000 + 40_000 * chunk.len() as u64,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to: CallKind::Call(token),
            value: U256::ZERO,
            access_list: Default::default(),
            input: data.into(),
        };
        nonce += 1;
        mints.push(workload::sign(tx, funder.key));
    }
    send_and_confirm(client, "minting the ERC-20 token", mints).await?;
    Ok(token)
}

/// Wei each account needs for its share: gas at the fee cap plus the value moved.
pub(crate) fn needs(per_account: &[(u64, u64)], fees: Fees) -> Vec<U256> {
    let eth_cost = U256::from(workload::ETH_TRANSFER_GAS) * U256::from(fees.max_fee_per_gas)
        + U256::from(workload::ETH_TRANSFER_VALUE);
    let erc_cost = U256::from(workload::ERC20_TRANSFER_GAS) * U256::from(fees.max_fee_per_gas);
    per_account
        .iter()
        .map(|(eth, erc)| U256::from(*eth) * eth_cost + U256::from(*erc) * erc_cost)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bytecode_is_embedded() {
        let code = hex::decode(LOAD_TOKEN_BIN.trim()).unwrap();
        assert!(code.len() > 1000);
        // The runtime code dispatches on both selectors the harness calls.
        let transfer = &keccak256("transfer(address,uint256)")[..4];
        let mint = &keccak256("mintBatch(address[],uint256)")[..4];
        assert!(code.windows(4).any(|w| w == transfer));
        assert!(code.windows(4).any(|w| w == mint));
    }

    #[test]
    fn needs_cover_gas_and_value() {
        let fees = Fees {
            max_fee_per_gas: 10,
            max_priority_fee_per_gas: 1,
        };
        let n = needs(&[(2, 1), (0, 0)], fees);
        assert_eq!(n[0], U256::from(2 * (21_000 * 10 + 1) + 90_000 * 10));
        assert_eq!(n[1], U256::ZERO);
    }
}

//! What a replica must learn from the sequencer before its first block: the chain id and
//! block 0 (timestamp, base fee, gas limit, extra data, hash), kept in the data directory
//! (`replica.json`) so that a restart needs no sequencer to start serving.

use crate::{config::PeregrineConfig, run::RunError};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use jsonrpsee_core::{client::ClientT, rpc_params};
use jsonrpsee_ws_client::WsClientBuilder;
use peregrine_chain::{Chain, GenesisSpec, genesis::DEFAULT_DEV_BALANCE_ETH};
use serde::{Deserialize, Serialize};
use std::{path::Path, time::Duration};

/// The file in the data directory.
const FILE: &str = "replica.json";

/// The followed chain's identity and block 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    /// Chain id.
    pub chain_id: u64,
    /// Hash of the sequencer's block 0.
    pub genesis_hash: B256,
    /// Its timestamp.
    pub genesis_timestamp: u64,
    /// Its base fee (the chain's lowest).
    pub min_base_fee: u64,
    /// Its gas limit.
    pub gas_limit: u64,
    /// Its extra data.
    pub genesis_extra_data: Bytes,
    /// Whether it was just fetched (and is saved once the genesis checks out).
    #[serde(skip)]
    fresh: bool,
}

/// Block 0 as `eth_getBlockByNumber` answers (the fields needed).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Block0 {
    hash: B256,
    timestamp: U64,
    base_fee_per_gas: U64,
    gas_limit: U64,
    extra_data: Bytes,
}

impl Bootstrap {
    /// From `datadir` if a previous start saved it, else from the sequencer at `url`,
    /// retried until it answers (with the `[replica]` backoff).
    pub async fn load_or_fetch(
        datadir: &Path,
        url: &str,
        sequencer: Address,
        cfg: &PeregrineConfig,
    ) -> Result<Self, RunError> {
        let path = datadir.join(FILE);
        if let Ok(text) = std::fs::read_to_string(&path) {
            return serde_json::from_str(&text)
                .map_err(|e| RunError::Config(format!("{}: {e}", path.display())));
        }
        let mut pause = cfg.replica.reconnect_min;
        loop {
            match Self::fetch(url, sequencer).await {
                Ok(boot) => return Ok(boot),
                Err(FetchError::Refused(why)) => return Err(RunError::Config(why)),
                Err(FetchError::Unreachable(why)) => {
                    tracing::warn!(sequencer = %url, error = %why, retry_in = ?pause, "cannot learn the chain from the sequencer yet");
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(cfg.replica.reconnect_max);
        }
    }

    async fn fetch(url: &str, sequencer: Address) -> Result<Self, FetchError> {
        let unreachable = |e: jsonrpsee_core::client::Error| FetchError::Unreachable(e.to_string());
        let client = WsClientBuilder::default()
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Duration::from_secs(10))
            .build(url)
            .await
            .map_err(unreachable)?;
        let signer: Address = client
            .request("preconf_sequencer", rpc_params![])
            .await
            .map_err(unreachable)?;
        if signer != sequencer {
            return Err(FetchError::Refused(format!(
                "{url} says its mini-blocks are signed by {signer}, but --sequencer.address is \
                 {sequencer}: refusing to follow it"
            )));
        }
        let chain_id: U64 = client
            .request("eth_chainId", rpc_params![])
            .await
            .map_err(unreachable)?;
        let block: Block0 = client
            .request("eth_getBlockByNumber", rpc_params!["0x0", false])
            .await
            .map_err(unreachable)?;
        Ok(Self {
            chain_id: chain_id.to(),
            genesis_hash: block.hash,
            genesis_timestamp: block.timestamp.to(),
            min_base_fee: block.base_fee_per_gas.to(),
            gas_limit: block.gas_limit.to(),
            genesis_extra_data: block.extra_data,
            fresh: true,
        })
    }

    /// The genesis to build block 0 from: the configured one (`--genesis`, else the dev
    /// accounts) with the sequencer's timestamp and extra data.
    pub fn genesis(&self, cfg: &PeregrineConfig) -> Result<GenesisSpec, RunError> {
        let mut genesis = match &cfg.chain.genesis {
            Some(path) => GenesisSpec::from_file(path).map_err(RunError::Config)?,
            None => {
                let balance =
                    U256::from(DEFAULT_DEV_BALANCE_ETH) * U256::from(10u64).pow(U256::from(18));
                GenesisSpec::dev(cfg.chain.dev_accounts, balance)
            }
        };
        genesis.timestamp = Some(self.genesis_timestamp);
        genesis.extra_data = self.genesis_extra_data.clone();
        Ok(genesis)
    }

    /// Checks that the block 0 built here is the sequencer's, then saves what was fetched.
    pub fn check_genesis(&self, chain: &Chain, datadir: &Path) -> Result<(), RunError> {
        let ours = chain
            .reader()
            .and_then(|r| r.header(0))
            .map_err(|e| RunError::Config(format!("cannot read block 0: {e}")))?
            .map(|h| h.hash_slow());
        if ours != Some(self.genesis_hash) {
            return Err(RunError::Config(format!(
                "block 0 built here ({}) is not the sequencer's ({}): start the replica with \
                 the sequencer's --genesis or --dev.accounts, on an empty --datadir",
                ours.unwrap_or_default(),
                self.genesis_hash
            )));
        }
        if self.fresh {
            let path = datadir.join(FILE);
            let text = serde_json::to_string_pretty(self).expect("serializes");
            std::fs::write(&path, text)
                .map_err(|e| RunError::Config(format!("cannot write {}: {e}", path.display())))?;
        }
        Ok(())
    }
}

enum FetchError {
    /// Try again later.
    Unreachable(String),
    /// Never: the sequencer is not the one configured.
    Refused(String),
}

//! The genesis state: the dev accounts and geth-style genesis files.

use crate::state::WorldState;
use alloy_genesis::Genesis;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};
use std::path::Path;

/// Default balance of each prefunded dev account: 10 000 ETH.
pub const DEFAULT_DEV_BALANCE_ETH: u64 = 10_000;

/// The standard test mnemonic used by anvil, hardhat and Foundry.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// How many mnemonic accounts dev mode funds (as anvil does).
pub const DEV_MNEMONIC_ACCOUNTS: u32 = 10;

/// One prefunded account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisAccount {
    /// Address.
    pub address: Address,
    /// Starting nonce.
    pub nonce: u64,
    /// Starting balance, wei.
    pub balance: U256,
    /// Code, for contracts.
    pub code: Option<Bytes>,
    /// Storage.
    pub storage: Vec<(U256, U256)>,
}

/// What block 0 holds.
#[derive(Debug, Clone, Default)]
pub struct GenesisSpec {
    /// Prefunded accounts.
    pub accounts: Vec<GenesisAccount>,
    /// Timestamp of block 0 (seconds); `None` means the time of first start.
    pub timestamp: Option<u64>,
    /// Extra data of block 0.
    pub extra_data: Bytes,
    /// Chain id the genesis file names, if any.
    pub chain_id: Option<u64>,
}

/// The private key of extra dev account `i` (`--dev.accounts`):
/// keccak256("peregrine.dev.account" ‖ i as big-endian u64). Deterministic, so load
/// generators can sign for these accounts without talking to the node.
pub fn dev_account_key(i: u64) -> B256 {
    let mut buf = b"peregrine.dev.account".to_vec();
    buf.extend_from_slice(&i.to_be_bytes());
    keccak256(buf)
}

/// The signers of the ten standard mnemonic accounts.
pub fn dev_mnemonic_signers() -> Vec<PrivateKeySigner> {
    (0..DEV_MNEMONIC_ACCOUNTS)
        .map(|i| {
            MnemonicBuilder::<English>::default()
                .phrase(DEV_MNEMONIC)
                .index(i)
                .expect("valid derivation index")
                .build()
                .expect("the standard mnemonic derives")
        })
        .collect()
}

impl GenesisSpec {
    /// Dev mode: the ten mnemonic accounts and `extra` deterministic accounts, each with
    /// `balance` wei.
    pub fn dev(extra: u64, balance: U256) -> Self {
        let mut accounts: Vec<GenesisAccount> = dev_mnemonic_signers()
            .iter()
            .map(|s| s.address())
            .chain((0..extra).map(|i| {
                PrivateKeySigner::from_bytes(&dev_account_key(i))
                    .expect("keccak output is a valid key")
                    .address()
            }))
            .map(|address| GenesisAccount {
                address,
                nonce: 0,
                balance,
                code: None,
                storage: Vec::new(),
            })
            .collect();
        accounts.dedup_by_key(|a| a.address);
        Self {
            accounts,
            timestamp: None,
            extra_data: Bytes::new(),
            chain_id: None,
        }
    }

    /// Reads a geth-style genesis file (its `alloc`, `timestamp`, `extraData`, `config.chainId`).
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read genesis file {}: {e}", path.display()))?;
        let genesis: Genesis = serde_json::from_str(&text)
            .map_err(|e| format!("invalid genesis file {}: {e}", path.display()))?;
        let accounts = genesis
            .alloc
            .iter()
            .map(|(address, account)| GenesisAccount {
                address: *address,
                nonce: account.nonce.unwrap_or(0),
                balance: account.balance,
                code: account.code.clone(),
                storage: account
                    .storage
                    .iter()
                    .flatten()
                    .map(|(k, v)| (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0)))
                    .collect(),
            })
            .collect();
        Ok(Self {
            accounts,
            timestamp: (genesis.timestamp != 0).then_some(genesis.timestamp),
            extra_data: genesis.extra_data,
            chain_id: Some(genesis.config.chain_id),
        })
    }

    /// The state of block 0.
    pub fn state(&self) -> WorldState {
        let mut state = WorldState::new();
        for a in &self.accounts {
            state.insert_account(
                a.address,
                a.nonce,
                a.balance,
                a.code.clone(),
                a.storage.iter().copied(),
            );
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    #[test]
    fn mnemonic_accounts_match_anvil() {
        let signers = dev_mnemonic_signers();
        assert_eq!(signers.len(), 10);
        assert_eq!(
            signers[0].address(),
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
        assert_eq!(
            signers[9].address(),
            address!("a0Ee7A142d267C1f36714E4a8F75612F20a79720")
        );
    }

    #[test]
    fn geth_genesis_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genesis.json");
        std::fs::write(
            &path,
            r#"{
              "config": { "chainId": 777 },
              "timestamp": "0x5",
              "extraData": "0x1234",
              "gasLimit": "0x1c9c380",
              "difficulty": "0x0",
              "alloc": {
                "0x1000000000000000000000000000000000000001": { "balance": "0x64" },
                "0x2000000000000000000000000000000000000002": {
                  "balance": "0x0", "nonce": "0x3", "code": "0x6001",
                  "storage": { "0x01": "0x0000000000000000000000000000000000000000000000000000000000000009" }
                }
              }
            }"#,
        )
        .unwrap();
        let spec = GenesisSpec::from_file(&path).unwrap();
        assert_eq!(spec.chain_id, Some(777));
        assert_eq!(spec.timestamp, Some(5));
        assert_eq!(spec.extra_data.as_ref(), &[0x12, 0x34]);
        let state = spec.state();
        let a = address!("1000000000000000000000000000000000000001");
        let b = address!("2000000000000000000000000000000000000002");
        assert_eq!(state.account(&a).unwrap().balance, U256::from(100));
        assert_eq!(state.account(&b).unwrap().nonce, 3);
        assert_eq!(state.code_of(&b).as_ref(), &[0x60, 0x01]);
        assert_eq!(state.storage(&b, &U256::from(1)), U256::from(9));
        assert!(GenesisSpec::from_file(&dir.path().join("missing.json")).is_err());
    }

    #[test]
    fn extra_dev_accounts_are_distinct() {
        let spec = GenesisSpec::dev(5, U256::from(1));
        assert_eq!(spec.accounts.len(), 15);
    }
}

//! The sender accounts: the same deterministic keys `peregrine dev --dev.accounts N`
//! prefunds, so a load run against a dev node needs no funding transactions.

use alloy_primitives::{Address, B256, keccak256};
use alloy_signer_local::PrivateKeySigner;

/// Domain of the dev account keys (must match `peregrine_sequencer::genesis::dev_account_key`).
const DEV_ACCOUNT_DOMAIN: &[u8] = b"peregrine.dev.account";

/// The private key of dev account `i`: keccak256(`"peregrine.dev.account"` ‖ `i` as a
/// big-endian u64). The same derivation as the node's; an integration test checks that the
/// node prefunds exactly these addresses.
pub fn dev_account_key(i: u64) -> B256 {
    let mut buf = Vec::with_capacity(DEV_ACCOUNT_DOMAIN.len() + 8);
    buf.extend_from_slice(DEV_ACCOUNT_DOMAIN);
    buf.extend_from_slice(&i.to_be_bytes());
    keccak256(buf)
}

/// A key and its address.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// Private key.
    pub key: B256,
    /// Its address.
    pub address: Address,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print keys.
        f.debug_struct("Account")
            .field("address", &self.address)
            .finish()
    }
}

impl Account {
    /// The account of a private key; `None` if it is not a valid secp256k1 scalar.
    pub fn from_key(key: B256) -> Option<Self> {
        let address = PrivateKeySigner::from_bytes(&key).ok()?.address();
        Some(Account { key, address })
    }

    /// Dev account `i`.
    pub fn dev(i: u64) -> Self {
        Account::from_key(dev_account_key(i)).expect("keccak output is a valid key")
    }
}

/// The first `n` dev accounts.
pub fn dev_accounts(n: usize) -> Vec<Account> {
    (0..n as u64).map(Account::dev).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    #[test]
    fn funder_key_is_mnemonic_account_zero() {
        let key: B256 = crate::config::DEFAULT_FUNDER_KEY.parse().unwrap();
        assert_eq!(
            Account::from_key(key).unwrap().address,
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
    }

    #[test]
    fn dev_keys_are_distinct_and_stable() {
        let a = dev_accounts(3);
        assert_ne!(a[0].address, a[1].address);
        assert_eq!(Account::dev(2), a[2]);
        assert!(!format!("{:?}", a[0]).contains(&format!("{:x}", a[0].key)));
    }
}

//! Merkle leaves in OpenZeppelin `StandardMerkleTree` encoding:
//! `leaf = keccak256(bytes.concat(keccak256(abi.encode(values))))`.

use alloy_primitives::{Address, B256, Log, U256, keccak256};
use alloy_sol_types::SolValue;

/// `keccak256(keccak256(encoded))`: OpenZeppelin's `StandardMerkleTree` leaf of the ABI
/// encoding `encoded`. Hashing twice keeps a leaf from ever equalling an inner node.
fn standard_leaf(encoded: &[u8]) -> B256 {
    keccak256(keccak256(encoded))
}

/// Leaf of the transaction at `index` in its mini-block:
/// `abi.encode(uint256 index, bytes32 txHash)`, double-hashed.
///
/// OpenZeppelin: `StandardMerkleTree.verify(root, ["uint256", "bytes32"], [index, txHash], proof)`.
pub fn transaction_leaf(index: u32, tx_hash: B256) -> B256 {
    standard_leaf(&(U256::from(index), tx_hash).abi_encode_params())
}

/// What a receipt leaf commits to: the transaction's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReceiptLeaf {
    /// Hash of the transaction.
    pub tx_hash: B256,
    /// Whether it succeeded (status 1) or reverted (status 0).
    pub success: bool,
    /// Gas it used.
    pub gas_used: u64,
    /// Gas used by the L2 block up to and including it.
    pub cumulative_gas_used: u64,
    /// [`logs_hash`] of the logs it emitted.
    pub logs_hash: B256,
}

impl ReceiptLeaf {
    /// The leaf at position `index`: `abi.encode(uint256 index, bytes32 txHash, bool success,
    /// uint256 gasUsed, uint256 cumulativeGasUsed, bytes32 logsHash)`, double-hashed.
    pub fn leaf(&self, index: u32) -> B256 {
        standard_leaf(
            &(
                U256::from(index),
                self.tx_hash,
                self.success,
                U256::from(self.gas_used),
                U256::from(self.cumulative_gas_used),
                self.logs_hash,
            )
                .abi_encode_params(),
        )
    }
}

/// `keccak256(rlp(logs))`: the RLP list of the logs exactly as in an Ethereum receipt, each log
/// `[address, [topic, ...], data]`. No logs: `keccak256(0xc0)` =
/// `0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347`.
pub fn logs_hash(logs: &[Log]) -> B256 {
    let mut out = Vec::new();
    alloy_rlp::encode_list(logs, &mut out);
    keccak256(out)
}

/// One account's change in a mini-block's state diff.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AccountDiffLeaf {
    /// The account.
    pub address: Address,
    /// Whether the account was deleted (self-destructed, or touched and empty); the other
    /// fields are then zero.
    pub deleted: bool,
    /// Nonce after the mini-block.
    pub nonce: u64,
    /// Balance after the mini-block.
    pub balance: U256,
    /// Code hash after the mini-block.
    pub code_hash: B256,
    /// Whether the storage was wiped before `storage` was applied.
    pub storage_cleared: bool,
    /// Changed slots and their new values, sorted by slot.
    pub storage: Vec<(U256, U256)>,
}

impl AccountDiffLeaf {
    /// `keccak256(abi.encode(uint256[] slots, uint256[] values))` over `storage` in its order.
    pub fn storage_hash(&self) -> B256 {
        let (slots, values): (Vec<U256>, Vec<U256>) = self.storage.iter().copied().unzip();
        keccak256((slots, values).abi_encode_params())
    }

    /// The leaf: `abi.encode(address account, bool deleted, uint256 nonce, uint256 balance,
    /// bytes32 codeHash, bool storageCleared, bytes32 storageHash)`, double-hashed, with
    /// `storageHash` from [`AccountDiffLeaf::storage_hash`].
    pub fn leaf(&self) -> B256 {
        standard_leaf(
            &(
                self.address,
                self.deleted,
                U256::from(self.nonce),
                self.balance,
                self.code_hash,
                self.storage_cleared,
                self.storage_hash(),
            )
                .abi_encode_params(),
        )
    }
}

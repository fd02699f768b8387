//! Merkle leaves in OpenZeppelin `StandardMerkleTree` encoding:
//! `leaf = keccak256(bytes.concat(keccak256(abi.encode(values))))`.

use alloy_primitives::{Address, B256, Log, U256, keccak256};
use alloy_sol_types::SolValue;

/// `keccak256(keccak256(encoded))`: OpenZeppelin's `StandardMerkleTree` leaf of the ABI
/// encoding `encoded`. Hashing twice keeps a leaf from ever equalling an inner node.
fn standard_leaf(encoded: &[u8]) -> B256 {
    keccak256(keccak256(encoded))
}

/// The ABI encoding of `N` static 32-byte words, on the stack: what `abi_encode_params`
/// writes for a tuple of `uint256`, `bytes32`, `bool` and `address` values, without its
/// heap buffer (a leaf is built for every transaction and every changed account).
fn words<const N: usize, const BYTES: usize>(values: [[u8; 32]; N]) -> [u8; BYTES] {
    const { assert!(BYTES == 32 * N) };
    let mut out = [0u8; BYTES];
    for (chunk, word) in out.chunks_exact_mut(32).zip(values) {
        chunk.copy_from_slice(&word);
    }
    out
}

/// A `uint256` word.
fn uint(v: u64) -> [u8; 32] {
    U256::from(v).to_be_bytes()
}

/// A `bool` word.
fn boolean(v: bool) -> [u8; 32] {
    uint(u64::from(v))
}

/// An `address` word: left-padded.
fn address_word(a: &Address) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a.as_slice());
    w
}

/// Leaf of the transaction at `index` in its mini-block:
/// `abi.encode(uint256 index, bytes32 txHash)`, double-hashed.
///
/// OpenZeppelin: `StandardMerkleTree.verify(root, ["uint256", "bytes32"], [index, txHash], proof)`.
pub fn transaction_leaf(index: u32, tx_hash: B256) -> B256 {
    standard_leaf(&words::<2, 64>([uint(index.into()), tx_hash.0]))
}

/// Leaf of the mini-block at `index` in its L2 block, in the batcher's commitment:
/// `abi.encode(uint256 index, bytes32 headerDigest)`, double-hashed, where the digest is
/// the mini-block header's EIP-712 signing hash.
///
/// OpenZeppelin: `StandardMerkleTree.verify(root, ["uint256", "bytes32"], [index, digest], proof)`.
pub fn mini_block_leaf(index: u32, header_digest: B256) -> B256 {
    standard_leaf(&words::<2, 64>([uint(index.into()), header_digest.0]))
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
        standard_leaf(&words::<6, 192>([
            uint(index.into()),
            self.tx_hash.0,
            boolean(self.success),
            uint(self.gas_used),
            uint(self.cumulative_gas_used),
            self.logs_hash.0,
        ]))
    }
}

/// [`logs_hash`] of no logs: `keccak256(0xc0)`.
const EMPTY_LOGS_HASH: B256 =
    alloy_primitives::b256!("0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

/// `keccak256(rlp(logs))`: the RLP list of the logs exactly as in an Ethereum receipt, each log
/// `[address, [topic, ...], data]`. No logs: `keccak256(0xc0)` =
/// `0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347`.
pub fn logs_hash(logs: &[Log]) -> B256 {
    if logs.is_empty() {
        // Most transactions (every transfer) have no logs: no buffer, no hashing.
        return EMPTY_LOGS_HASH;
    }
    let mut out = Vec::new();
    alloy_rlp::encode_list(logs, &mut out);
    keccak256(out)
}

/// [`AccountDiffLeaf::storage_hash`] of no storage changes: `abi.encode` of two empty
/// `uint256[]`, hashed.
static EMPTY_STORAGE_HASH: std::sync::LazyLock<B256> = std::sync::LazyLock::new(|| {
    keccak256((Vec::<U256>::new(), Vec::<U256>::new()).abi_encode_params())
});

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
        if self.storage.is_empty() {
            // Most changed accounts (every transfer's two) change no storage.
            return *EMPTY_STORAGE_HASH;
        }
        let (slots, values): (Vec<U256>, Vec<U256>) = self.storage.iter().copied().unzip();
        keccak256((slots, values).abi_encode_params())
    }

    /// The leaf: `abi.encode(address account, bool deleted, uint256 nonce, uint256 balance,
    /// bytes32 codeHash, bool storageCleared, bytes32 storageHash)`, double-hashed, with
    /// `storageHash` from [`AccountDiffLeaf::storage_hash`].
    pub fn leaf(&self) -> B256 {
        standard_leaf(&words::<7, 224>([
            address_word(&self.address),
            boolean(self.deleted),
            uint(self.nonce),
            self.balance.to_be_bytes(),
            self.code_hash.0,
            boolean(self.storage_cleared),
            self.storage_hash().0,
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, LogData, address, b256};

    /// One 32-byte ABI word.
    fn word(v: u64) -> [u8; 32] {
        U256::from(v).to_be_bytes()
    }

    #[test]
    fn transaction_leaf_is_the_double_hash_of_two_words() {
        let hash = keccak256("tx");
        let enc = [word(7).as_slice(), hash.as_slice()].concat();
        assert_eq!(transaction_leaf(7, hash), keccak256(keccak256(enc)));
    }

    #[test]
    fn receipt_leaf_is_the_double_hash_of_six_words() {
        let r = ReceiptLeaf {
            tx_hash: keccak256("tx"),
            success: true,
            gas_used: 21_000,
            cumulative_gas_used: 42_000,
            logs_hash: keccak256("logs"),
        };
        let enc = [
            word(3).as_slice(),
            r.tx_hash.as_slice(),
            &word(1),
            &word(21_000),
            &word(42_000),
            r.logs_hash.as_slice(),
        ]
        .concat();
        assert_eq!(r.leaf(3), keccak256(keccak256(enc)));
    }

    #[test]
    fn account_leaf_and_storage_hash_follow_solidity_abi_encode() {
        let a = AccountDiffLeaf {
            address: address!("0x00000000000000000000000000000000000000aa"),
            deleted: false,
            nonce: 1,
            balance: U256::from(5),
            code_hash: keccak256("code"),
            storage_cleared: true,
            storage: vec![
                (U256::from(1), U256::from(10)),
                (U256::from(2), U256::from(20)),
            ],
        };
        // abi.encode(uint256[] slots, uint256[] values): two offsets, then each array as
        // its length followed by its elements.
        let storage = [
            word(0x40),
            word(0xa0),
            word(2),
            word(1),
            word(2),
            word(2),
            word(10),
            word(20),
        ]
        .concat();
        assert_eq!(a.storage_hash(), keccak256(storage));
        let mut addr_word = [0u8; 32];
        addr_word[12..].copy_from_slice(a.address.as_slice());
        let enc = [
            addr_word.as_slice(),
            &word(0),
            &word(1),
            &word(5),
            a.code_hash.as_slice(),
            &word(1),
            a.storage_hash().as_slice(),
        ]
        .concat();
        assert_eq!(a.leaf(), keccak256(keccak256(enc)));
        // No storage changes: abi.encode of two empty arrays.
        let empty = AccountDiffLeaf::default().storage_hash();
        assert_eq!(
            empty,
            keccak256([word(0x40), word(0x60), word(0), word(0)].concat())
        );
    }

    #[test]
    fn logs_hash_is_keccak_of_the_rlp_log_list() {
        // The constant returned for no logs is the hash of the empty list's RLP.
        assert_eq!(logs_hash(&[]), keccak256([0xc0]));
        assert_eq!(
            logs_hash(&[]),
            b256!("0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347")
        );
        let log = Log {
            address: address!("0x00000000000000000000000000000000000000aa"),
            data: LogData::new_unchecked(
                vec![B256::repeat_byte(1)],
                Bytes::from_static(&[0xbe, 0xef]),
            ),
        };
        // [[0x94 ++ address, [0xa0 ++ topic], 0x82 beef]]
        let mut item = vec![0x94];
        item.extend_from_slice(log.address.as_slice());
        item.extend_from_slice(&[0xe1, 0xa0]);
        item.extend_from_slice(&[1u8; 32]);
        item.extend_from_slice(&[0x82, 0xbe, 0xef]);
        let mut inner = vec![0xf8, item.len() as u8];
        inner.extend_from_slice(&item);
        let mut list = vec![0xf8, inner.len() as u8];
        list.extend_from_slice(&inner);
        assert_eq!(logs_hash(&[log]), keccak256(list));
    }
}

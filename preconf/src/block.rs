//! What the sequencer signs about L2 blocks, beside its mini-blocks: the block context each
//! mini-block header commits to ([`BlockContextFields`], by hash), the senders it commits to
//! ([`senders_hash`]), and the [`BlockSeal`] that names a sealed block's hash (in the
//! domain of [`crate::domain`]).
//!
//! A replica applies only what a signature covers: a transaction's sender through
//! `sendersHash`, the block's timestamp, base fee, gas limit, beneficiary and `prevRandao`
//! through `blockContextHash`, and the sealed block's hash through a signed seal.

use alloy_primitives::{Address, B256, Signature, U256, keccak256};
use alloy_sol_types::{SolStruct, SolValue, sol};

use crate::error::VerifyError;

/// The context of an L2 block, fixed when it opens; every header of a mini-block of the block
/// commits to [`BlockContextFields::hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BlockContextFields {
    /// Block timestamp, seconds.
    pub timestamp: u64,
    /// EIP-1559 base fee, wei.
    pub base_fee: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// `prevRandao` (the header's `mixHash`).
    pub prev_randao: B256,
}

impl BlockContextFields {
    /// `keccak256(abi.encode(uint64 timestamp, uint256 baseFee, uint64 gasLimit,
    /// address beneficiary, bytes32 prevRandao))`.
    pub fn hash(&self) -> B256 {
        keccak256(
            (
                self.timestamp,
                U256::from(self.base_fee),
                self.gas_limit,
                self.beneficiary,
                self.prev_randao,
            )
                .abi_encode_params(),
        )
    }
}

/// `keccak256` of the senders' 20-byte addresses concatenated in transaction order (no
/// padding; `keccak256("")` for an empty mini-block).
pub fn senders_hash<'a>(senders: impl IntoIterator<Item = &'a Address>) -> B256 {
    let mut hasher = alloy_primitives::Keccak256::new();
    for s in senders {
        hasher.update(s.as_slice());
    }
    hasher.finalize()
}

sol! {
    /// The sequencer's statement that L2 block `blockNumber` sealed with hash `blockHash`,
    /// after mini-block `nextMiniBlock - 1` (whose hash is `lastMiniBlockHash`; zero before
    /// any). Signed as EIP-712 typed data in the same domain as mini-block headers.
    #[derive(Debug, Copy, PartialEq, Eq, Hash, Default)]
    struct BlockSeal {
        /// L2 chain id.
        uint64 chainId;
        /// The sealed block.
        uint64 blockNumber;
        /// Its hash (keccak256 of its RLP header).
        bytes32 blockHash;
        /// Its state root.
        bytes32 stateRoot;
        /// Number of the first mini-block of any later block.
        uint64 nextMiniBlock;
        /// Hash of the last mini-block up to and including this block.
        bytes32 lastMiniBlockHash;
    }
}

impl BlockSeal {
    /// EIP-712 digest under [`domain`]`(self.chainId)`.
    pub fn signing_hash(&self) -> B256 {
        static TYPE_HASH: std::sync::LazyLock<B256> =
            std::sync::LazyLock::new(|| keccak256(BlockSeal::eip712_encode_type().as_bytes()));
        crate::header::typed_digest(self.chainId, *TYPE_HASH, &self.eip712_encode_data())
    }
}

/// A [`BlockSeal`] with the sequencer's signature over its [`BlockSeal::signing_hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedSeal {
    /// The seal.
    pub seal: BlockSeal,
    /// secp256k1 signature, low `s`.
    pub signature: Signature,
}

impl SignedSeal {
    /// The address that signed the seal (a high `s` is refused).
    pub fn recover_signer(&self) -> Result<Address, VerifyError> {
        crate::header::recover_checked(&self.signature, self.seal.signing_hash())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SequencerKey, header::domain};

    #[test]
    fn context_hash_is_the_abi_encoding_of_five_words() {
        let c = BlockContextFields {
            timestamp: 7,
            base_fee: 1_000_000_000,
            gas_limit: 30_000_000,
            beneficiary: Address::repeat_byte(0xbe),
            prev_randao: keccak256("r"),
        };
        let word = |v: u64| B256::from(U256::from(v));
        let mut b = [0u8; 32];
        b[12..].copy_from_slice(c.beneficiary.as_slice());
        let enc = [
            word(7),
            word(1_000_000_000),
            word(30_000_000),
            B256::from(b),
            c.prev_randao,
        ]
        .concat();
        assert_eq!(c.hash(), keccak256(enc));
        let other = BlockContextFields { base_fee: 1, ..c };
        assert_ne!(other.hash(), c.hash());
    }

    #[test]
    fn senders_hash_concatenates_addresses() {
        let a = Address::repeat_byte(1);
        let b = Address::repeat_byte(2);
        assert_eq!(
            senders_hash(&[a, b]),
            keccak256([a.as_slice(), b.as_slice()].concat())
        );
        assert_ne!(senders_hash(&[a, b]), senders_hash(&[b, a]));
        assert_eq!(senders_hash(&[]), keccak256([]));
    }

    #[test]
    fn seal_signature_recovers_and_type_string_is_documented() {
        assert_eq!(
            BlockSeal::eip712_encode_type(),
            "BlockSeal(uint64 chainId,uint64 blockNumber,bytes32 blockHash,bytes32 stateRoot,\
             uint64 nextMiniBlock,bytes32 lastMiniBlockHash)"
        );
        let key = SequencerKey::dev();
        let seal = BlockSeal {
            chainId: 901,
            blockNumber: 3,
            blockHash: keccak256("b"),
            stateRoot: keccak256("s"),
            nextMiniBlock: 10,
            lastMiniBlockHash: keccak256("m"),
        };
        let signed = SignedSeal {
            seal,
            signature: key.sign_digest(seal.signing_hash()),
        };
        assert_eq!(signed.recover_signer().unwrap(), key.address());
        assert_eq!(seal.signing_hash(), seal.eip712_signing_hash(&domain(901)));
        let forged = SignedSeal {
            seal: BlockSeal {
                blockHash: keccak256("c"),
                ..seal
            },
            ..signed
        };
        assert_ne!(forged.recover_signer().unwrap(), key.address());
    }
}

//! The signed object: a mini-block header, hashed and signed as EIP-712 typed data.

use alloy_primitives::{Address, B256, Signature};
use alloy_sol_types::{Eip712Domain, SolStruct, eip712_domain, sol};

use crate::error::VerifyError;

/// EIP-712 domain `name` of every Peregrine signature.
pub const DOMAIN_NAME: &str = "Peregrine";

/// EIP-712 domain `version` of every Peregrine signature.
pub const DOMAIN_VERSION: &str = "2";

sol! {
    /// The header of a mini-block: what the sequencer signs.
    ///
    /// Its EIP-712 digest under [`domain`]`(chainId)` ([`MiniBlockHeader::signing_hash`]) is
    /// both the message the sequencer signs and the mini-block's hash, which the next
    /// mini-block names as its `parentHash`.
    #[derive(Debug, Copy, PartialEq, Eq, Hash, Default)]
    struct MiniBlockHeader {
        /// L2 chain id; also the `chainId` of the EIP-712 domain.
        uint64 chainId;
        /// Number of the L2 block this mini-block belongs to.
        uint64 blockNumber;
        /// Number of this mini-block: counts every mini-block of the chain from 0, across
        /// L2 blocks, without gaps (what `fromMiniBlock` resumes from).
        uint64 miniBlockNumber;
        /// Signing hash of the previous mini-block (zero for the chain's first one).
        bytes32 parentHash;
        /// Global sequence number of this mini-block's first transaction.
        uint64 firstSequence;
        /// Merkle root over [`transaction_leaf`](crate::transaction_leaf)s.
        bytes32 transactionsRoot;
        /// Merkle root over [`ReceiptLeaf::leaf`](crate::ReceiptLeaf::leaf)s.
        bytes32 receiptsRoot;
        /// Merkle root over [`AccountDiffLeaf::leaf`](crate::AccountDiffLeaf::leaf)s.
        bytes32 stateDiffRoot;
        /// When the mini-block was closed, in microseconds since the Unix epoch.
        uint64 timestampMicros;
        /// [`senders_hash`](crate::senders_hash) of its transactions' senders, in order:
        /// what a replica takes as each transaction's `from` without recovering it.
        bytes32 sendersHash;
        /// [`BlockContextFields::hash`](crate::BlockContextFields::hash) of the L2 block's
        /// context (timestamp, base fee, gas limit, beneficiary, `prevRandao`).
        bytes32 blockContextHash;
    }
}

/// The EIP-712 domain of chain `chain_id`: `name`, `version` and `chainId` only (no
/// `verifyingContract`, no `salt`).
pub fn domain(chain_id: u64) -> Eip712Domain {
    eip712_domain! {
        name: DOMAIN_NAME,
        version: DOMAIN_VERSION,
        chain_id: chain_id,
    }
}

impl MiniBlockHeader {
    /// EIP-712 digest `keccak256(0x1901 || domainSeparator || hashStruct(header))` under
    /// [`domain`]`(self.chainId)`. Also the mini-block's hash.
    pub fn signing_hash(&self) -> B256 {
        static TYPE_HASH: std::sync::LazyLock<B256> = std::sync::LazyLock::new(|| {
            alloy_primitives::keccak256(MiniBlockHeader::eip712_encode_type().as_bytes())
        });
        typed_digest(self.chainId, *TYPE_HASH, &self.eip712_encode_data())
    }
}

/// `keccak256(0x1901 || domainSeparator(chain_id) || keccak256(type_hash || data))`: an
/// EIP-712 digest in Peregrine's domain from a struct's type hash and encoded data.
///
/// What alloy's `eip712_signing_hash` computes, without hashing the domain's and the
/// type's strings again for every digest (a mini-block's hash is taken on the promise
/// path and by every follower): the type hash is the caller's, computed once, and the
/// separator of the first chain asked for is kept.
pub(crate) fn typed_digest(chain_id: u64, type_hash: B256, data: &[u8]) -> B256 {
    static SEPARATOR: std::sync::OnceLock<(u64, B256)> = std::sync::OnceLock::new();
    let cached = *SEPARATOR.get_or_init(|| (chain_id, domain(chain_id).separator()));
    let separator = if cached.0 == chain_id {
        cached.1
    } else {
        domain(chain_id).separator()
    };
    let mut hasher = alloy_primitives::Keccak256::new();
    hasher.update(type_hash);
    hasher.update(data);
    let struct_hash = hasher.finalize();
    let mut hasher = alloy_primitives::Keccak256::new();
    hasher.update([0x19, 0x01]);
    hasher.update(separator);
    hasher.update(struct_hash);
    hasher.finalize()
}

/// A header with the sequencer's signature over its [`MiniBlockHeader::signing_hash`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedHeader {
    /// The signed header.
    pub header: MiniBlockHeader,
    /// secp256k1 signature over `header.signing_hash()`.
    pub signature: Signature,
}

impl SignedHeader {
    /// The mini-block's hash: `header.signing_hash()`.
    pub fn hash(&self) -> B256 {
        self.header.signing_hash()
    }

    /// The address that signed this header.
    ///
    /// Signatures with a high `s` (above half the curve order) are refused, as OpenZeppelin's
    /// `ECDSA.recover` does, so that each header has exactly one valid signature per key.
    pub fn recover_signer(&self) -> Result<Address, VerifyError> {
        recover_checked(&self.signature, self.hash())
    }
}

/// The signer of `digest`, refusing a high-`s` signature (see [`SignedHeader::recover_signer`]):
/// for a caller that has the digest already.
pub fn recover_checked(signature: &Signature, digest: B256) -> Result<Address, VerifyError> {
    if signature.normalize_s().is_some() {
        return Err(VerifyError::BadSignature(
            "s is in the upper half of the curve order (malleable signature)".into(),
        ));
    }
    recover_address(signature, digest).map_err(|e| VerifyError::BadSignature(e.to_string()))
}

/// The address whose key made `signature` over `digest`, with libsecp256k1 (about 4× faster
/// than the pure-Rust k256 behind `Signature::recover_address_from_prehash`).
fn recover_address(signature: &Signature, digest: B256) -> Result<Address, secp256k1::Error> {
    use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&signature.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&signature.s().to_be_bytes::<32>());
    let id = RecoveryId::try_from(i32::from(signature.v()))?;
    let signature = RecoverableSignature::from_compact(&compact, id)?;
    let key = secp256k1::SECP256K1
        .recover_ecdsa(&secp256k1::Message::from_digest(digest.0), &signature)?;
    Ok(Address::from_raw_public_key(
        &key.serialize_uncompressed()[1..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SequencerKey;
    use alloy_primitives::{U256, keccak256};

    fn header() -> MiniBlockHeader {
        MiniBlockHeader {
            chainId: 901,
            blockNumber: 12,
            miniBlockNumber: 3,
            parentHash: keccak256("parent"),
            firstSequence: 40,
            transactionsRoot: keccak256("txs"),
            receiptsRoot: keccak256("receipts"),
            stateDiffRoot: keccak256("diff"),
            timestampMicros: 1_763_700_000_000_000,
            sendersHash: keccak256("senders"),
            blockContextHash: keccak256("context"),
        }
    }

    #[test]
    fn type_string_is_the_documented_one() {
        assert_eq!(
            MiniBlockHeader::eip712_encode_type(),
            "MiniBlockHeader(uint64 chainId,uint64 blockNumber,uint64 miniBlockNumber,\
             bytes32 parentHash,uint64 firstSequence,bytes32 transactionsRoot,\
             bytes32 receiptsRoot,bytes32 stateDiffRoot,uint64 timestampMicros,\
             bytes32 sendersHash,bytes32 blockContextHash)"
        );
    }

    #[test]
    fn signing_hash_is_eip712_by_hand() {
        let h = header();
        let domain_type = keccak256("EIP712Domain(string name,string version,uint256 chainId)");
        let separator = keccak256(
            [
                domain_type,
                keccak256(DOMAIN_NAME),
                keccak256(DOMAIN_VERSION),
                B256::from(U256::from(901)),
            ]
            .concat(),
        );
        assert_eq!(domain(901).separator(), separator);
        let word = |v: u64| B256::from(U256::from(v));
        let struct_hash = keccak256(
            [
                keccak256(MiniBlockHeader::eip712_encode_type().as_bytes()),
                word(h.chainId),
                word(h.blockNumber),
                word(h.miniBlockNumber),
                h.parentHash,
                word(h.firstSequence),
                h.transactionsRoot,
                h.receiptsRoot,
                h.stateDiffRoot,
                word(h.timestampMicros),
                h.sendersHash,
                h.blockContextHash,
            ]
            .concat(),
        );
        let digest = keccak256(
            [
                &[0x19, 0x01][..],
                separator.as_slice(),
                struct_hash.as_slice(),
            ]
            .concat(),
        );
        assert_eq!(h.signing_hash(), digest);
    }

    #[test]
    fn cached_digest_is_alloys_for_every_chain() {
        for chain in [901, 1, 901, 10, u64::MAX] {
            let h = MiniBlockHeader {
                chainId: chain,
                ..header()
            };
            assert_eq!(
                h.signing_hash(),
                h.eip712_signing_hash(&domain(chain)),
                "{chain}"
            );
        }
    }

    #[test]
    fn sign_and_recover_round_trip() {
        let key = SequencerKey::dev();
        let signed = key.sign_header(header());
        assert_eq!(signed.recover_signer().unwrap(), key.address());
        assert_eq!(signed.hash(), header().signing_hash());
        let v = signed.signature.as_bytes()[64];
        assert!(v == 27 || v == 28, "v = {v}");
    }

    #[test]
    fn signatures_are_deterministic() {
        let key = SequencerKey::dev();
        let again = SequencerKey::from_bytes(&keccak256(crate::DEV_KEY_SEED)).unwrap();
        assert_eq!(
            key.sign(&header()).as_bytes(),
            key.sign(&header()).as_bytes()
        );
        assert_eq!(
            key.sign(&header()).as_bytes(),
            again.sign(&header()).as_bytes()
        );
        let mut other = header();
        other.blockNumber += 1;
        assert_ne!(key.sign(&header()).as_bytes(), key.sign(&other).as_bytes());
    }

    #[test]
    fn high_s_signature_is_refused() {
        let signed = SequencerKey::dev().sign_header(header());
        let s = signed.signature;
        // The same signature with s' = n - s and the parity flipped recovers the same key;
        // it is refused so that signatures are unique.
        let n = alloy_primitives::uint!(
            0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256
        );
        let flipped = Signature::new(s.r(), n - s.s(), !s.v());
        let bad = SignedHeader {
            signature: flipped,
            ..signed
        };
        assert!(matches!(
            bad.recover_signer(),
            Err(VerifyError::BadSignature(_))
        ));
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = header().signing_hash();
        let mut variants = Vec::new();
        for i in 0..9 {
            let mut h = header();
            match i {
                0 => h.chainId += 1,
                1 => h.blockNumber += 1,
                2 => h.miniBlockNumber += 1,
                3 => h.parentHash.0[0] ^= 1,
                4 => h.firstSequence += 1,
                5 => h.transactionsRoot.0[0] ^= 1,
                6 => h.receiptsRoot.0[0] ^= 1,
                7 => h.stateDiffRoot.0[0] ^= 1,
                _ => h.timestampMicros += 1,
            }
            variants.push(h.signing_hash());
        }
        assert!(variants.iter().all(|h| *h != base));
    }

    /// libsecp256k1 recovery agrees with k256's (alloy's `recover_address_from_prehash`),
    /// for signatures of both parities, by several keys, and for foreign signatures.
    #[test]
    fn recovery_agrees_with_k256() {
        let mut parities = [0; 2];
        for k in 1u8..=6 {
            let key = SequencerKey::from_bytes(&keccak256([k])).unwrap();
            for n in 0..20 {
                let mut h = header();
                h.miniBlockNumber = n;
                let signed = key.sign_header(h);
                parities[usize::from(signed.signature.v())] += 1;
                let by_k256 = signed
                    .signature
                    .recover_address_from_prehash(&signed.hash())
                    .unwrap();
                assert_eq!(signed.recover_signer().unwrap(), by_k256);
                assert_eq!(by_k256, key.address());
                // The same signature over another digest recovers some other address,
                // the same one with both libraries.
                let other = keccak256([k, n as u8]);
                assert_eq!(
                    recover_address(&signed.signature, other).ok(),
                    signed.signature.recover_address_from_prehash(&other).ok()
                );
            }
        }
        assert!(parities[0] > 0 && parities[1] > 0, "{parities:?}");
    }
}

//! Peregrine preconfirmations: the sequencer's signed promise that a transaction is included
//! at a given position of a mini-block with a given result, checkable by anyone from its own
//! bytes, off-chain or in an L1 contract.
//!
//! This crate holds the types, signing and verification, and nothing of the server (no
//! tokio, jsonrpsee, revm or redb), so a client can depend on it alone.
//!
//! ```text
//!  sequencer                                              anyone
//!  ─────────                                              ──────
//!  mini-block txs ──transaction_leaf──▶ MerkleTree ─┐
//!  receipts ───────ReceiptLeaf::leaf──▶ MerkleTree ─┼─▶ MiniBlockHeader (roots, numbers)
//!  state diff ─AccountDiffLeaf::leaf──▶ MerkleTree ─┘        │ EIP-712 signing_hash
//!                                                            ▼
//!                                         SequencerKey::sign ─▶ SignedHeader
//!                                                            │ + index, ReceiptLeaf,
//!                                                            │   two Merkle proofs
//!                                                            ▼
//!                                       Preconfirmation ──to_json──▶ wire ──from_json──▶
//!                                                 Preconfirmation::verify(Some(sequencer))
//!                                                    = signature, signer, both proofs
//! ```
//!
//! # The signed header
//!
//! [`MiniBlockHeader`] is signed as EIP-712 typed data in the domain
//! `{name: "Peregrine", version: "2", chainId}` ([`domain`]; no `verifyingContract`, no
//! `salt`), with the type
//!
//! ```text
//! MiniBlockHeader(uint64 chainId,uint64 blockNumber,uint64 miniBlockNumber,bytes32 parentHash,
//!   uint64 firstSequence,bytes32 transactionsRoot,bytes32 receiptsRoot,bytes32 stateDiffRoot,
//!   uint64 timestampMicros,bytes32 sendersHash,bytes32 blockContextHash)
//! ```
//!
//! Version 2 added `sendersHash` ([`senders_hash`]) and `blockContextHash`
//! ([`BlockContextFields::hash`]), so that a replica applies senders and the block context
//! under the signature too. A sealed block is named by a signed [`BlockSeal`] in the same
//! domain.
//!
//! The digest ([`MiniBlockHeader::signing_hash`]) is also the mini-block's hash: the next
//! mini-block's `parentHash`. Signatures are secp256k1, deterministic (RFC 6979), low-`s`
//! (high-`s` ones are refused on verification), written as 65 bytes `r || s || v` with
//! `v` = 27 or 28, as Solidity's `ecrecover` and OpenZeppelin's `ECDSA.recover` take them.
//!
//! # Merkle trees and leaves
//!
//! Leaves use OpenZeppelin's `StandardMerkleTree` encoding,
//! `leaf = keccak256(bytes.concat(keccak256(abi.encode(values))))`, where `abi.encode` is
//! Solidity's (the values as a parameter list, no outer offset):
//!
//! | tree | leaf values |
//! | --- | --- |
//! | `transactionsRoot` | [`transaction_leaf`]: `(uint256 index, bytes32 txHash)` |
//! | `receiptsRoot` | [`ReceiptLeaf::leaf`]: `(uint256 index, bytes32 txHash, bool success, uint256 gasUsed, uint256 cumulativeGasUsed, bytes32 logsHash)` |
//! | `stateDiffRoot` | [`AccountDiffLeaf::leaf`]: `(address account, bool deleted, uint256 nonce, uint256 balance, bytes32 codeHash, bool storageCleared, bytes32 storageHash)` |
//!
//! with `logsHash = keccak256(rlp(logs))` ([`logs_hash`]: the receipt's log list, each log
//! `[address, [topics], data]`; `keccak256(0xc0)` when there are none) and
//! `storageHash = keccak256(abi.encode(uint256[] slots, uint256[] values))` over the changed
//! slots in ascending slot order ([`AccountDiffLeaf::storage_hash`]).
//!
//! A [`MerkleTree`] keeps its leaves in the given order (position `i` is transaction `i`;
//! the position is also inside the leaf). Each level pairs neighbours and hashes each pair
//! **sorted**, `keccak256(min(a, b) || max(a, b))`; an odd last node is promoted unchanged.
//! One leaf is its own root; no leaves give the root `bytes32(0)`. Proofs therefore check
//! with OpenZeppelin's `MerkleProof.verify(proof, root, leaf)` in Solidity and
//! `StandardMerkleTree.verify(root, leafEncoding, values, proof)` in JavaScript ([`verify_proof`]
//! here). The tree's *shape* is not that of `StandardMerkleTree.of` (which also sorts the
//! leaves), so rebuild roots with this crate, not with `StandardMerkleTree.of`.
//!
//! # JSON form
//!
//! [`Preconfirmation::to_json`] writes (camelCase, integers as JSON numbers, which all fit
//! in 2^53, hashes as `0x` hex):
//!
//! ```json
//! { "typedData": { "domain": {"name": "Peregrine", "version": "2", "chainId": 901},
//!                  "types": {"EIP712Domain": [{"name": "name", "type": "string"},
//!                                             {"name": "version", "type": "string"},
//!                                             {"name": "chainId", "type": "uint256"}],
//!                            "MiniBlockHeader": [{"name": "chainId", "type": "uint64"}, "..."]},
//!                  "primaryType": "MiniBlockHeader",
//!                  "message": {"chainId": 901, "blockNumber": 12, "...": "...",
//!                              "parentHash": "0x..", "timestampMicros": 1763700000000000} },
//!   "signature": "0x<r || s || v, 65 bytes, v = 27/28>",
//!   "transaction": {"index": 0, "hash": "0x.."},
//!   "receipt": {"success": true, "gasUsed": 21000, "cumulativeGasUsed": 21000, "logsHash": "0x.."},
//!   "proofs": {"transaction": ["0x.."], "receipt": ["0x.."]},
//!   "timestamps": {"received": 0, "ordered": 0, "executed": 0, "signed": 0, "sent": 0} }
//! ```
//!
//! `typedData` is what generic EIP-712 libraries take: viem's
//! `recoverTypedDataAddress({...typedData, signature})` accepts it as is (the `EIP712Domain`
//! entry included); ethers' `verifyTypedData(domain, types, message, signature)` needs
//! `types.EIP712Domain` deleted first. [`Preconfirmation::from_json`] is strict: missing or
//! unknown fields, wrong types, another domain name or version, a domain `chainId` other than
//! the message's, other `types` or `primaryType` are errors. The stage `timestamps` are **not**
//! signed.
//!
//! # Keys
//!
//! [`SequencerKey::dev`] is a fixed development key, private key
//! `keccak256("peregrine.dev.sequencer")`, address
//! `0xEB25E6d7f8118b1E24dD5Eff177Cea2110736076` ([`DEV_SEQUENCER_ADDRESS`]). Everyone
//! knows it: use [`SequencerKey::from_file`] for anything real.

mod block;
pub mod bond;
mod error;
mod header;
mod json;
mod key;
mod leaf;
mod merkle;
mod preconf;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use block::{BlockContextFields, BlockSeal, SignedSeal, senders_hash};
pub use error::{KeyError, VerifyError};
pub use header::{
    DOMAIN_NAME, DOMAIN_VERSION, MiniBlockHeader, SignedHeader, domain, recover_checked,
};
pub use json::{
    FeedPreconfirmation, HEADER_FIELDS, PRIMARY_TYPE, RenderedHeader, typed_data_types,
};
pub use key::{DEV_KEY_SEED, DEV_SEQUENCER_ADDRESS, SequencerKey};
pub use leaf::{AccountDiffLeaf, ReceiptLeaf, logs_hash, mini_block_leaf, transaction_leaf};
pub use merkle::{MerkleTree, verify_proof};
pub use preconf::{Preconfirmation, StageTimestamps, Verified};

//! Integration tests of `peregrine-preconf`: the JSON form, tampering, and an independent
//! check of signatures and proofs with real JavaScript libraries (viem, OpenZeppelin).

mod js;
mod json;

use alloy_primitives::B256;
pub(crate) use peregrine_preconf::testing::mini_block;

/// Flips the lowest bit of a hash.
fn flip(mut b: B256) -> B256 {
    b.0[31] ^= 1;
    b
}

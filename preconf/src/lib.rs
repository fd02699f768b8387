//! Peregrine preconfirmations: the signed promise that a transaction is included at a given
//! position with a given result.
//!
//! Not built yet: the format, EIP-712 signing and verification arrive with the
//! preconfirmation issue. This crate deliberately exports nothing until then.

//! Peregrine's L1 batcher: compresses sealed L2 blocks into batches and posts them to L1.
//!
//! Not built yet: this crate deliberately exports nothing until its issue is taken.

//! Peregrine's load generator (`peregrine-loadtest`).
//!
//! Not built yet: this crate deliberately exports nothing until the load-test issue is taken.

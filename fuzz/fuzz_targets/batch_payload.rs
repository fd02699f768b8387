//! What derivation reads from L1, written by anyone who can call the inbox: a batch
//! payload (frames, channels, compressed blocks) and the `post` calldata. Any bytes, never
//! a panic; a decoded `post` re-encodes to the same calldata. The first byte picks the
//! input's use; a channel is also tried as a whole (codec byte + compressed blocks)
//! behind a well-formed single frame, so the decompressors and the block decoder are
//! reached without forging frame headers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peregrine_batcher::{format, inbox};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let mut assembler = format::Assembler::default();
            if let Ok(frames) = format::parse_payload(rest) {
                for frame in frames {
                    let _ = assembler.push(frame);
                }
            }
        }
        1 => {
            // One frame, complete: id, number 0, the length, the channel, last.
            let mut payload = vec![0u8];
            payload.extend_from_slice(&[7u8; 16]);
            payload.extend_from_slice(&0u16.to_be_bytes());
            payload.extend_from_slice(&(rest.len() as u32).to_be_bytes());
            payload.extend_from_slice(rest);
            payload.push(1);
            let mut assembler = format::Assembler::default();
            if let Ok(frames) = format::parse_payload(&payload) {
                for frame in frames {
                    let _ = assembler.push(frame);
                }
            }
            let _ = format::decode_blocks(rest);
        }
        _ => {
            if let Some(post) = inbox::decode_post(rest) {
                let again = inbox::post_calldata(&post.commitments, post.frames.to_vec());
                if let Some(back) = inbox::decode_post(&again) {
                    assert_eq!(back, post, "post calldata does not round-trip");
                }
            }
        }
    }
});

//! The batch format, version 0: L2 blocks → a compressed channel → frames → L1 payloads.
//! Specified in `docs/batch-format.md` (a decoder can be written from that page alone).
//!
//! ```text
//! block    = number u64 | timestamp u64 | base_fee u64 | gas_limit u64 | beneficiary [20]
//!            | prev_randao [32] | tx_count u32 | (tx_len u32 | tx [tx_len])*
//! channel  = codec u8 | compress(block*)                  (codec 1 = zstd, 2 = brotli)
//! frame    = channel_id [16] | frame_number u16 | data_len u32 | data | is_last u8
//! payload  = DERIVATION_VERSION u8 | frame+               (calldata `frames`, or blob data)
//! ```
//! Integers are big-endian. Transactions are their EIP-2718 bytes, as signed by users.

use crate::error::FormatError;
use alloy_primitives::{Address, B256, Bytes, keccak256};
use std::io::{Read, Write};

/// The first byte of every L1 payload.
pub const DERIVATION_VERSION: u8 = 0;
/// Bytes a frame adds to its data.
pub const FRAME_OVERHEAD: usize = 16 + 2 + 4 + 1;
/// The largest decompressed channel a decoder accepts (a bound on decompression bombs).
pub const MAX_CHANNEL_BYTES: usize = 256 << 20;

/// One L2 block as posted: its context and its transactions, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchBlock {
    /// Block number.
    pub number: u64,
    /// Timestamp (seconds).
    pub timestamp: u64,
    /// Base fee (wei).
    pub base_fee: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// `PREVRANDAO`.
    pub prev_randao: B256,
    /// EIP-2718 transactions.
    pub txs: Vec<Bytes>,
}

impl BatchBlock {
    /// Appends the block's encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.base_fee.to_be_bytes());
        out.extend_from_slice(&self.gas_limit.to_be_bytes());
        out.extend_from_slice(self.beneficiary.as_slice());
        out.extend_from_slice(self.prev_randao.as_slice());
        out.extend_from_slice(&(self.txs.len() as u32).to_be_bytes());
        for tx in &self.txs {
            out.extend_from_slice(&(tx.len() as u32).to_be_bytes());
            out.extend_from_slice(tx);
        }
    }

    /// The uncompressed size of its encoding.
    pub fn encoded_len(&self) -> usize {
        8 * 4 + 20 + 32 + 4 + self.txs.iter().map(|t| 4 + t.len()).sum::<usize>()
    }
}

/// Decodes a channel's uncompressed blocks.
pub fn decode_blocks(mut data: &[u8]) -> Result<Vec<BatchBlock>, FormatError> {
    let mut blocks = Vec::new();
    while !data.is_empty() {
        let number = take_u64(&mut data)?;
        let timestamp = take_u64(&mut data)?;
        let base_fee = take_u64(&mut data)?;
        let gas_limit = take_u64(&mut data)?;
        let beneficiary = Address::from_slice(take(&mut data, 20)?);
        let prev_randao = B256::from_slice(take(&mut data, 32)?);
        let count = take_u32(&mut data)? as usize;
        // Each transaction takes at least its 4-byte length: a bound before allocating.
        if count > data.len() / 4 {
            return Err(FormatError::Truncated("transaction list"));
        }
        let mut txs = Vec::with_capacity(count);
        for _ in 0..count {
            let len = take_u32(&mut data)? as usize;
            txs.push(Bytes::copy_from_slice(take(&mut data, len)?));
        }
        blocks.push(BatchBlock {
            number,
            timestamp,
            base_fee,
            gas_limit,
            beneficiary,
            prev_randao,
            txs,
        });
    }
    Ok(blocks)
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], FormatError> {
    if data.len() < n {
        return Err(FormatError::Truncated("block"));
    }
    let (head, rest) = data.split_at(n);
    *data = rest;
    Ok(head)
}

fn take_u64(data: &mut &[u8]) -> Result<u64, FormatError> {
    Ok(u64::from_be_bytes(
        take(data, 8)?.try_into().expect("8 bytes"),
    ))
}

fn take_u32(data: &mut &[u8]) -> Result<u32, FormatError> {
    Ok(u32::from_be_bytes(
        take(data, 4)?.try_into().expect("4 bytes"),
    ))
}

/// A compressor, named by the channel's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// zstd at a level (1-22).
    Zstd(i32),
    /// brotli at a quality (0-11), window 2^24.
    Brotli(u32),
}

impl Codec {
    /// The channel's first byte.
    pub fn id(self) -> u8 {
        match self {
            Codec::Zstd(_) => 1,
            Codec::Brotli(_) => 2,
        }
    }

    /// Compresses `data` into a channel (codec byte first).
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        let mut out = vec![self.id()];
        match self {
            Codec::Zstd(level) => {
                let compressed =
                    zstd::bulk::compress(data, level).expect("zstd compresses in memory");
                out.extend_from_slice(&compressed);
            }
            Codec::Brotli(quality) => {
                let mut w = brotli::CompressorWriter::new(&mut out, 1 << 16, quality, 24);
                w.write_all(data).expect("brotli compresses in memory");
                drop(w);
            }
        }
        out
    }
}

/// Decompresses a channel (any codec), refusing more than [`MAX_CHANNEL_BYTES`].
pub fn decompress(channel: &[u8]) -> Result<Vec<u8>, FormatError> {
    let (&codec, body) = channel
        .split_first()
        .ok_or(FormatError::Truncated("channel"))?;
    let mut out = Vec::new();
    let limit = MAX_CHANNEL_BYTES as u64 + 1;
    let read = match codec {
        1 => zstd::stream::read::Decoder::new(body)
            .map_err(|e| FormatError::Decompress(e.to_string()))?
            .take(limit)
            .read_to_end(&mut out),
        2 => brotli::Decompressor::new(body, 1 << 16)
            .take(limit)
            .read_to_end(&mut out),
        other => return Err(FormatError::UnknownCodec(other)),
    };
    read.map_err(|e| FormatError::Decompress(e.to_string()))?;
    if out.len() > MAX_CHANNEL_BYTES {
        return Err(FormatError::TooLarge(MAX_CHANNEL_BYTES));
    }
    Ok(out)
}

/// A channel's identity: the first 16 bytes of keccak256(first block ‖ last block ‖ salt).
pub fn channel_id(first: u64, last: u64, salt: u64) -> [u8; 16] {
    let mut buf = [0u8; 24];
    buf[..8].copy_from_slice(&first.to_be_bytes());
    buf[8..16].copy_from_slice(&last.to_be_bytes());
    buf[16..].copy_from_slice(&salt.to_be_bytes());
    keccak256(buf).0[..16].try_into().expect("16 bytes")
}

/// One piece of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The channel it belongs to.
    pub channel: [u8; 16],
    /// Its place in the channel, from 0.
    pub number: u16,
    /// The piece.
    pub data: Vec<u8>,
    /// Whether it ends the channel.
    pub is_last: bool,
}

impl Frame {
    /// Appends the frame's encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.channel);
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&(self.data.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.data);
        out.push(u8::from(self.is_last));
    }
}

/// Splits `channel` into frames of at most `max_data` bytes of data each.
pub fn split(id: [u8; 16], channel: &[u8], max_data: usize) -> Vec<Frame> {
    let max_data = max_data.max(1);
    let pieces: Vec<&[u8]> = channel.chunks(max_data).collect();
    let last = pieces.len().saturating_sub(1);
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, data)| Frame {
            channel: id,
            number: i as u16,
            data: data.to_vec(),
            is_last: i == last,
        })
        .collect()
}

/// An L1 payload: the version byte, then frames.
pub fn payload(frames: &[Frame]) -> Vec<u8> {
    let mut out = vec![DERIVATION_VERSION];
    for f in frames {
        f.encode(&mut out);
    }
    out
}

/// Parses an L1 payload into its frames.
pub fn parse_payload(data: &[u8]) -> Result<Vec<Frame>, FormatError> {
    let (&version, mut rest) = data
        .split_first()
        .ok_or(FormatError::Truncated("payload"))?;
    if version != DERIVATION_VERSION {
        return Err(FormatError::UnknownVersion(version));
    }
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let channel: [u8; 16] = take(&mut rest, 16)?.try_into().expect("16 bytes");
        let number = u16::from_be_bytes(take(&mut rest, 2)?.try_into().expect("2 bytes"));
        let len = take_u32(&mut rest)? as usize;
        let data = take(&mut rest, len)?.to_vec();
        let is_last = match take(&mut rest, 1)?[0] {
            0 => false,
            1 => true,
            other => return Err(FormatError::BadFlag(other)),
        };
        frames.push(Frame {
            channel,
            number,
            data,
            is_last,
        });
    }
    Ok(frames)
}

/// Reassembles channels from frames in L1 order. A channel is complete when its frames
/// 0..=last have all arrived (duplicates ignored); its blocks are then returned.
#[derive(Debug, Default)]
pub struct Assembler {
    open: std::collections::HashMap<[u8; 16], Vec<Option<Vec<u8>>>>,
    last: std::collections::HashMap<[u8; 16], u16>,
    /// Channels already complete: their frames again (a re-post) are ignored.
    done: std::collections::HashSet<[u8; 16]>,
}

impl Assembler {
    /// Adds a frame; returns the channel's blocks when this frame completes it.
    pub fn push(&mut self, frame: Frame) -> Result<Option<Vec<BatchBlock>>, FormatError> {
        if self.done.contains(&frame.channel) {
            return Ok(None);
        }
        let slots = self.open.entry(frame.channel).or_default();
        let i = frame.number as usize;
        if slots.len() <= i {
            slots.resize(i + 1, None);
        }
        if slots[i].is_none() {
            slots[i] = Some(frame.data);
        }
        if frame.is_last {
            self.last.insert(frame.channel, frame.number);
        }
        let Some(&last) = self.last.get(&frame.channel) else {
            return Ok(None);
        };
        let slots = &self.open[&frame.channel];
        if slots.len() < last as usize + 1 || slots[..=last as usize].iter().any(Option::is_none) {
            return Ok(None);
        }
        let slots = self.open.remove(&frame.channel).expect("present");
        self.last.remove(&frame.channel);
        self.done.insert(frame.channel);
        let channel: Vec<u8> = slots
            .into_iter()
            .take(last as usize + 1)
            .flatten()
            .flatten()
            .collect();
        decode_blocks(&decompress(&channel)?).map(Some)
    }

    /// Channels started and not complete.
    pub fn incomplete(&self) -> usize {
        self.open.len()
    }

    /// The frames of the channels started and not complete, as an L1 payload
    /// ([`payload`]); empty when there are none. [`Assembler::restore`] gives this
    /// assembler back, less its memory of completed channels (their frames seen again
    /// then reassemble, and the caller takes their blocks once by number).
    pub fn snapshot(&self) -> Vec<u8> {
        if self.open.is_empty() {
            return Vec::new();
        }
        let mut channels: Vec<_> = self.open.iter().collect();
        channels.sort_unstable_by_key(|(id, _)| **id);
        let last = |id: &[u8; 16]| self.last.get(id).copied();
        let frames: Vec<Frame> = channels
            .into_iter()
            .flat_map(|(id, slots)| {
                slots.iter().enumerate().filter_map(move |(i, data)| {
                    data.as_ref().map(|data| Frame {
                        channel: *id,
                        number: i as u16,
                        data: data.clone(),
                        is_last: last(id) == Some(i as u16),
                    })
                })
            })
            .collect();
        payload(&frames)
    }

    /// The assembler a [`Assembler::snapshot`] was taken of.
    pub fn restore(snapshot: &[u8]) -> Result<Self, FormatError> {
        let mut assembler = Self::default();
        if snapshot.is_empty() {
            return Ok(assembler);
        }
        for frame in parse_payload(snapshot)? {
            if assembler.push(frame)?.is_some() {
                return Err(FormatError::Truncated("snapshot: a complete channel"));
            }
        }
        Ok(assembler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(number: u64, txs: usize) -> BatchBlock {
        BatchBlock {
            number,
            timestamp: 1_700_000_000 + number,
            base_fee: 7,
            gas_limit: 30_000_000,
            beneficiary: Address::repeat_byte(0xbe),
            prev_randao: B256::repeat_byte(number as u8),
            txs: (0..txs)
                .map(|i| Bytes::from(vec![0x02, i as u8, 3, 4, 5]))
                .collect(),
        }
    }

    #[test]
    fn blocks_round_trip_through_every_codec_and_frames() {
        let blocks = vec![block(1, 0), block(2, 3), block(3, 200)];
        let mut raw = Vec::new();
        for b in &blocks {
            b.encode(&mut raw);
        }
        assert_eq!(
            raw.len(),
            blocks.iter().map(BatchBlock::encoded_len).sum::<usize>()
        );
        for codec in [Codec::Zstd(3), Codec::Brotli(9)] {
            let channel = codec.compress(&raw);
            let id = channel_id(1, 3, 0);
            let frames = split(id, &channel, 50);
            assert!(frames.len() > 1);
            // Two payloads, frames out of order and one duplicated: still one channel.
            let mut a = Assembler::default();
            let (first, second) = frames.split_at(frames.len() / 2);
            let p2 = parse_payload(&payload(second)).unwrap();
            let p1 = parse_payload(&payload(first)).unwrap();
            let mut out = None;
            let dup = p1[0].clone();
            for f in p2.into_iter().chain(p1).chain([dup]) {
                if let Some(done) = a.push(f).unwrap() {
                    out = Some(done);
                }
            }
            assert_eq!(out.unwrap(), blocks);
            assert_eq!(a.incomplete(), 0);
        }
    }

    #[test]
    fn an_assembler_snapshot_gives_back_its_unfinished_channels() {
        let blocks: Vec<BatchBlock> = (1..=3).map(|n| block(n, 40)).collect();
        let mut raw = Vec::new();
        for b in &blocks {
            b.encode(&mut raw);
        }
        let channel = Codec::Brotli(5).compress(&raw);
        let frames = split(channel_id(1, 3, 0), &channel, channel.len() / 4 + 1);
        assert!(frames.len() >= 4);
        let mut a = Assembler::default();
        assert!(a.snapshot().is_empty());
        // All but the first frame (the last among them): unfinished.
        for f in frames[1..].iter().cloned() {
            assert!(a.push(f).unwrap().is_none());
        }
        let snapshot = a.snapshot();
        let mut b = Assembler::restore(&snapshot).unwrap();
        assert_eq!(b.incomplete(), 1);
        assert_eq!(b.snapshot(), snapshot);
        assert_eq!(b.push(frames[0].clone()).unwrap().unwrap(), blocks);
        assert!(b.snapshot().is_empty());
        // A snapshot that holds a complete channel is not one this code wrote.
        assert!(Assembler::restore(&payload(&frames)).is_err());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(matches!(
            parse_payload(&[1, 2]),
            Err(FormatError::UnknownVersion(1))
        ));
        assert!(parse_payload(&[0, 1, 2, 3]).is_err());
        assert!(matches!(
            decompress(&[9, 1]),
            Err(FormatError::UnknownCodec(9))
        ));
        assert!(decode_blocks(&[0; 10]).is_err());
        // A block claiming 2^32-1 transactions in a few bytes.
        let mut raw = Vec::new();
        block(1, 0).encode(&mut raw);
        let n = raw.len();
        raw[n - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_blocks(&raw).is_err());
    }
}

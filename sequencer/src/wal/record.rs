//! The log's record format.
//!
//! Every record is framed as
//!
//! ```text
//!  magic "PWL1" (4 bytes) │ len: u32 LE │ crc32c(len ‖ payload): u32 LE │ payload (len bytes)
//! ```
//!
//! and its payload, little-endian throughout, is one of
//!
//! ```text
//!  1 mini-block: number u64 │ first_seq u64 │ closed_us u64 │ signed_us u64 │
//!                signed header hash [32] │ block context │ n u32 │
//!                n × (seq u64 │ received u64 │ ordered u64 │ executed u64 │ sender [20] │
//!                     raw_len u32 │ EIP-2718 bytes)
//!  2 block end:  block context │ gas_used u64
//!  block context: number u64 │ timestamp u64 │ base_fee u64 │ gas_limit u64 │
//!                 beneficiary [20] │ prevrandao [32]
//! ```
//!
//! The record holds what replay needs to repeat the sequencer loop's decisions exactly:
//! the raw transactions in their order, their recovered senders (recovery is the costliest
//! step and the log is our own, checksummed), the block each mini-block belongs to, where
//! each L2 block ended, and the timestamps that the signed header and the preconfirmations
//! carry. The signed header's hash is logged too: replay must reproduce it exactly, and
//! start-up stops if it does not. The checksum covers the length, so a corrupt length is
//! caught too.

use crate::{
    block::{BlockContext, BlockEnd, MiniBlock},
    record::MiniBlockRecord,
};

use alloy_primitives::{Address, B256, Bytes};

/// First bytes of every record.
pub const MAGIC: [u8; 4] = *b"PWL1";
/// Bytes before the payload: magic, length, checksum.
pub const HEADER_LEN: usize = 12;
/// Largest payload accepted when reading; anything larger is a corrupt length.
pub const MAX_PAYLOAD: usize = 1 << 30;

const KIND_MINI_BLOCK: u8 = 1;
const KIND_BLOCK_END: u8 = 2;

/// One transaction of a logged mini-block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedTx {
    /// Global sequence number.
    pub seq: u64,
    /// Received at ingress, µs since the Unix epoch.
    pub received_us: u64,
    /// Ordered by the sequencer loop.
    pub ordered_us: u64,
    /// Executed.
    pub executed_us: u64,
    /// Recovered sender.
    pub sender: Address,
    /// The EIP-2718 encoding.
    pub raw: Bytes,
}

/// A logged mini-block: its transactions and where they go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedMiniBlock {
    /// Mini-block number.
    pub number: u64,
    /// Sequence number of its first transaction.
    pub first_seq: u64,
    /// Close time (the signed header's timestamp), µs since the Unix epoch.
    pub closed_us: u64,
    /// When its header was signed, µs since the Unix epoch (the `signed` stage).
    pub signed_us: u64,
    /// The signed header's hash (EIP-712 digest), which replay must reproduce.
    pub hash: B256,
    /// The L2 block it belongs to.
    pub block: BlockContext,
    /// Its transactions, in order.
    pub txs: Vec<LoggedTx>,
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalRecord {
    /// A closed mini-block.
    MiniBlock(LoggedMiniBlock),
    /// The end of an L2 block.
    BlockEnd(BlockEnd),
}

impl WalRecord {
    /// The L2 block the record belongs to.
    pub fn block_number(&self) -> u64 {
        match self {
            Self::MiniBlock(m) => m.block.number,
            Self::BlockEnd(e) => e.ctx.number,
        }
    }
}

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes end before the record does.
    Incomplete,
    /// The record does not start with [`MAGIC`].
    BadMagic,
    /// The length is beyond [`MAX_PAYLOAD`].
    BadLength(usize),
    /// The checksum does not match.
    Checksum {
        /// Stored checksum.
        stored: u32,
        /// Computed checksum.
        computed: u32,
    },
    /// The checksum matches but the payload does not decode.
    Malformed(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Incomplete => write!(f, "record is cut short"),
            Self::BadMagic => write!(f, "no record header (bad magic)"),
            Self::BadLength(n) => write!(f, "record length {n} is impossible"),
            Self::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Self::Malformed(why) => write!(f, "record does not decode: {why}"),
        }
    }
}

fn put_ctx(buf: &mut Vec<u8>, ctx: &BlockContext) {
    buf.extend_from_slice(&ctx.number.to_le_bytes());
    buf.extend_from_slice(&ctx.timestamp.to_le_bytes());
    buf.extend_from_slice(&ctx.base_fee.to_le_bytes());
    buf.extend_from_slice(&ctx.gas_limit.to_le_bytes());
    buf.extend_from_slice(ctx.beneficiary.as_slice());
    buf.extend_from_slice(ctx.prevrandao.as_slice());
}

/// Starts a frame; returns where its header is, for [`finish_frame`].
fn begin_frame(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&[0; 8]);
    start
}

fn finish_frame(buf: &mut [u8], start: usize) {
    let len = buf.len() - start - HEADER_LEN;
    let len_bytes = (len as u32).to_le_bytes();
    buf[start + 4..start + 8].copy_from_slice(&len_bytes);
    let mut crc = crc32c::crc32c(&len_bytes);
    crc = crc32c::crc32c_append(crc, &buf[start + HEADER_LEN..]);
    buf[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
}

/// Appends the framed record of a closed mini-block to `buf`, with its signed record's
/// signing time, header hash and transactions' EIP-2718 bytes (encoded once, by the signer,
/// not again here).
pub fn encode_mini_block(buf: &mut Vec<u8>, mini: &MiniBlock, signed: &MiniBlockRecord) {
    let (signed_us, hash) = (signed.signed, &signed.hash);
    let start = begin_frame(buf);
    buf.push(KIND_MINI_BLOCK);
    buf.extend_from_slice(&mini.number.to_le_bytes());
    buf.extend_from_slice(&mini.first_seq.to_le_bytes());
    buf.extend_from_slice(&mini.closed_us.to_le_bytes());
    buf.extend_from_slice(&signed_us.to_le_bytes());
    buf.extend_from_slice(hash.as_slice());
    put_ctx(buf, &mini.block);
    buf.extend_from_slice(&(mini.txs.len() as u32).to_le_bytes());
    for (tx, recorded) in mini.txs.iter().zip(&signed.transactions) {
        buf.extend_from_slice(&tx.seq.to_le_bytes());
        buf.extend_from_slice(&tx.received_us.to_le_bytes());
        buf.extend_from_slice(&tx.ordered_us.to_le_bytes());
        buf.extend_from_slice(&tx.executed_us.to_le_bytes());
        buf.extend_from_slice(tx.sender.as_slice());
        buf.extend_from_slice(&(recorded.raw.len() as u32).to_le_bytes());
        buf.extend_from_slice(&recorded.raw);
    }
    finish_frame(buf, start);
}

/// Appends the framed record of a block end to `buf`.
pub fn encode_block_end(buf: &mut Vec<u8>, end: &BlockEnd) {
    let start = begin_frame(buf);
    buf.push(KIND_BLOCK_END);
    put_ctx(buf, &end.ctx);
    buf.extend_from_slice(&end.gas_used.to_le_bytes());
    finish_frame(buf, start);
}

/// A cursor over a payload.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.0.len() < n {
            return Err(FrameError::Malformed("payload ends early".into()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn address(&mut self) -> Result<Address, FrameError> {
        Ok(Address::from_slice(self.take(20)?))
    }
    fn ctx(&mut self) -> Result<BlockContext, FrameError> {
        Ok(BlockContext {
            number: self.u64()?,
            timestamp: self.u64()?,
            base_fee: self.u64()?,
            gas_limit: self.u64()?,
            beneficiary: self.address()?,
            prevrandao: B256::from_slice(self.take(32)?),
        })
    }
}

fn decode_payload(payload: &[u8]) -> Result<WalRecord, FrameError> {
    let mut r = Reader(payload);
    let record = match r.u8()? {
        KIND_MINI_BLOCK => {
            let number = r.u64()?;
            let first_seq = r.u64()?;
            let closed_us = r.u64()?;
            let signed_us = r.u64()?;
            let hash = B256::from_slice(r.take(32)?);
            let block = r.ctx()?;
            let n = r.u32()? as usize;
            // Each transaction takes at least 56 bytes: a count beyond that is corrupt.
            if n > r.0.len() / 56 {
                return Err(FrameError::Malformed(format!(
                    "{n} transactions cannot fit"
                )));
            }
            let mut txs = Vec::with_capacity(n);
            for _ in 0..n {
                let seq = r.u64()?;
                let received_us = r.u64()?;
                let ordered_us = r.u64()?;
                let executed_us = r.u64()?;
                let sender = r.address()?;
                let len = r.u32()? as usize;
                let raw = Bytes::copy_from_slice(r.take(len)?);
                txs.push(LoggedTx {
                    seq,
                    received_us,
                    ordered_us,
                    executed_us,
                    sender,
                    raw,
                });
            }
            WalRecord::MiniBlock(LoggedMiniBlock {
                number,
                first_seq,
                closed_us,
                signed_us,
                hash,
                block,
                txs,
            })
        }
        KIND_BLOCK_END => WalRecord::BlockEnd(BlockEnd {
            ctx: r.ctx()?,
            gas_used: r.u64()?,
        }),
        other => {
            return Err(FrameError::Malformed(format!(
                "unknown record kind {other}"
            )));
        }
    };
    if !r.0.is_empty() {
        return Err(FrameError::Malformed(format!(
            "{} bytes after the record",
            r.0.len()
        )));
    }
    Ok(record)
}

/// The size of the whole frame starting `buf` (a frame this process just encoded).
pub fn frame_len(buf: &[u8]) -> usize {
    let len: [u8; 4] = buf[4..8].try_into().expect("a whole frame header");
    HEADER_LEN + u32::from_le_bytes(len) as usize
}

/// Splits encoded frames into writes of at most `max` bytes, at frame boundaries (a
/// larger frame is a write of its own).
pub fn writes(buf: &[u8], max: usize) -> impl Iterator<Item = &[u8]> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = frame_len(rest);
        while end < rest.len() && end + frame_len(&rest[end..]) <= max {
            end += frame_len(&rest[end..]);
        }
        let (write, after) = rest.split_at(end);
        rest = after;
        Some(write)
    })
}

/// Reads the record at the start of `buf`; returns it and its framed size.
pub fn decode(buf: &[u8]) -> Result<(WalRecord, usize), FrameError> {
    if buf.len() < HEADER_LEN {
        return Err(FrameError::Incomplete);
    }
    if buf[..4] != MAGIC {
        return Err(FrameError::BadMagic);
    }
    let len_bytes: [u8; 4] = buf[4..8].try_into().expect("4 bytes");
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len > MAX_PAYLOAD {
        return Err(FrameError::BadLength(len));
    }
    let stored = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    let Some(payload) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Err(FrameError::Incomplete);
    };
    let computed = crc32c::crc32c_append(crc32c::crc32c(&len_bytes), payload);
    if computed != stored {
        return Err(FrameError::Checksum { stored, computed });
    }
    Ok((decode_payload(payload)?, HEADER_LEN + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::block_context as ctx;

    #[test]
    fn writes_split_at_frame_boundaries_and_keep_a_large_frame_whole() {
        let mut buf = Vec::new();
        for n in 0..5 {
            encode_block_end(
                &mut buf,
                &BlockEnd {
                    ctx: ctx(n),
                    gas_used: n,
                },
            );
        }
        let frame = buf.len() / 5;
        // Two frames a write.
        let split: Vec<&[u8]> = writes(&buf, 2 * frame).collect();
        assert_eq!(
            split.iter().map(|w| w.len()).collect::<Vec<_>>(),
            [2 * frame, 2 * frame, frame]
        );
        assert_eq!(split.concat(), buf);
        // Smaller than a frame: one frame a write, never cut.
        assert_eq!(writes(&buf, 1).count(), 5);
        assert_eq!(writes(&buf, usize::MAX).count(), 1);
    }

    #[test]
    fn block_end_round_trips_and_every_flipped_bit_is_caught() {
        let end = BlockEnd {
            ctx: ctx(7),
            gas_used: 42_000,
        };
        let mut buf = Vec::new();
        encode_block_end(&mut buf, &end);
        let (record, size) = decode(&buf).unwrap();
        assert_eq!(record, WalRecord::BlockEnd(end));
        assert_eq!(size, buf.len());
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    decode(&bad).is_err(),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn a_cut_record_is_incomplete() {
        let mut buf = Vec::new();
        encode_block_end(
            &mut buf,
            &BlockEnd {
                ctx: ctx(1),
                gas_used: 0,
            },
        );
        for cut in 0..buf.len() {
            let err = decode(&buf[..cut]).unwrap_err();
            assert_eq!(err, FrameError::Incomplete, "cut at {cut}");
        }
    }
}

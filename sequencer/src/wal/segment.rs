//! Segment files: naming, listing, and reading them back at start-up.
//!
//! Segments are `<dir>/<index:016>.wal`, numbered from 1, written in order; only the last
//! one is ever appended to. Reading checks every record's checksum:
//! - a bad record followed by nothing readable, in the **last** segment, is a torn tail
//!   (a write the crash cut short): the segment is truncated before it, and the loss is
//!   reported (those records were never acknowledged: promises go out after the write);
//! - a bad record anywhere else (an earlier segment, or followed by a valid record) is
//!   corruption in the middle: start-up stops with the segment and offset, rather than
//!   silently dropping what follows.

use super::record::{self, FrameError, MAGIC, WalRecord};
use crate::error::WalError;
use std::{
    fs::{self, OpenOptions},
    path::{Path, PathBuf},
};

/// File name extension of segments.
pub const SEGMENT_EXT: &str = "wal";

/// One segment on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its number (1, 2, …).
    pub index: u64,
    /// Its path.
    pub path: PathBuf,
    /// Bytes of valid records.
    pub len: u64,
    /// Highest L2 block number any of its records belongs to (`None` when empty).
    pub max_block: Option<u64>,
}

/// A torn tail found and cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment.
    pub path: PathBuf,
    /// Where the valid records end (the new length).
    pub offset: u64,
    /// Bytes cut off.
    pub dropped_bytes: u64,
    /// What was wrong with the first bad record.
    pub reason: String,
    /// The record ran past the end of the file (or the rest was zeros): a write the crash
    /// cut short, never acknowledged. When false, a complete record failed its checksum
    /// at the very end: more likely damage than a tear, and possibly acknowledged.
    pub cut_short: bool,
}

/// What reading the log found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Records of L2 blocks after the checkpoint, in log order.
    pub records: Vec<WalRecord>,
    /// Every segment, in order.
    pub segments: Vec<SegmentInfo>,
    /// The torn tail that was cut off, if any.
    pub torn: Option<TornTail>,
    /// Records read in total (including those the checkpoint covers).
    pub total_records: u64,
}

/// The path of segment `index` in `dir`.
pub fn segment_path(dir: &Path, index: u64) -> PathBuf {
    dir.join(format!("{index:016}.{SEGMENT_EXT}"))
}

/// The segments in `dir`, in order.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| WalError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXT) {
            continue;
        }
        let index = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| WalError::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: "a .wal file whose name is not a segment number".into(),
            })?;
        out.push((index, path));
    }
    out.sort();
    for pair in out.windows(2) {
        if pair[1].0 != pair[0].0 + 1 {
            return Err(WalError::Corrupt {
                path: pair[1].1.clone(),
                offset: 0,
                reason: format!("segment {} is missing", pair[0].0 + 1),
            });
        }
    }
    Ok(out)
}

/// Whether any valid record starts after `from` in `data`.
fn valid_record_after(data: &[u8], from: usize) -> bool {
    let mut at = from;
    while let Some(found) = data
        .get(at..)
        .and_then(|rest| rest.windows(MAGIC.len()).position(|w| w == MAGIC))
    {
        let start = at + found;
        if record::decode(&data[start..]).is_ok() {
            return true;
        }
        at = start + 1;
    }
    false
}

/// Reads every segment in `dir` (created if missing), keeps the records of L2 blocks
/// after `checkpoint_block`, and truncates a torn tail.
pub fn recover(dir: &Path, checkpoint_block: u64) -> Result<Recovered, WalError> {
    fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
    let files = list(dir)?;
    let mut out = Recovered::default();
    let last = files.len().saturating_sub(1);
    for (i, (index, path)) in files.into_iter().enumerate() {
        let data = fs::read(&path).map_err(|e| WalError::io(&path, e))?;
        let mut pos = 0usize;
        let mut max_block = None;
        while pos < data.len() {
            match record::decode(&data[pos..]) {
                Ok((rec, size)) => {
                    let block = rec.block_number();
                    max_block = Some(max_block.map_or(block, |m: u64| m.max(block)));
                    out.total_records += 1;
                    if block > checkpoint_block {
                        out.records.push(rec);
                    }
                    pos += size;
                }
                Err(err) => {
                    // A write cut short by a crash leaves a record running past the end
                    // (or, after a power loss, zeros); anything else at the tail is only
                    // taken as torn when no valid record follows it.
                    let cut_short =
                        err == FrameError::Incomplete || data[pos..].iter().all(|b| *b == 0);
                    let torn = i == last
                        && !matches!(err, FrameError::Malformed(_))
                        && (cut_short || !valid_record_after(&data, pos + 1));
                    if !torn {
                        return Err(WalError::Corrupt {
                            path,
                            offset: pos as u64,
                            reason: format!("{err}, and records follow it"),
                        });
                    }
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| WalError::io(&path, e))?;
                    file.set_len(pos as u64)
                        .and_then(|()| file.sync_all())
                        .map_err(|e| WalError::io(&path, e))?;
                    out.torn = Some(TornTail {
                        path: path.clone(),
                        offset: pos as u64,
                        dropped_bytes: (data.len() - pos) as u64,
                        reason: err.to_string(),
                        cut_short,
                    });
                    break;
                }
            }
        }
        out.segments.push(SegmentInfo {
            index,
            path,
            len: pos as u64,
            max_block,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockContext, BlockEnd};
    use alloy_primitives::{Address, B256};
    use std::io::Write;

    fn end(number: u64) -> BlockEnd {
        BlockEnd {
            ctx: BlockContext {
                number,
                timestamp: number,
                base_fee: 7,
                gas_limit: 30_000_000,
                beneficiary: Address::ZERO,
                prevrandao: B256::ZERO,
            },
            gas_used: number * 21_000,
        }
    }

    /// Writes block ends `numbers` into segment `index`; returns each record's offset.
    fn write_segment(dir: &Path, index: u64, numbers: std::ops::Range<u64>) -> Vec<usize> {
        let mut buf = Vec::new();
        let mut offsets = Vec::new();
        for n in numbers {
            offsets.push(buf.len());
            record::encode_block_end(&mut buf, &end(n));
        }
        fs::write(segment_path(dir, index), &buf).unwrap();
        offsets
    }

    fn numbers(r: &Recovered) -> Vec<u64> {
        r.records.iter().map(WalRecord::block_number).collect()
    }

    #[test]
    fn reads_in_order_and_keeps_what_the_checkpoint_does_not_cover() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 1, 1..4);
        write_segment(dir.path(), 2, 4..7);
        let r = recover(dir.path(), 2).unwrap();
        assert_eq!(numbers(&r), vec![3, 4, 5, 6]);
        assert_eq!(r.total_records, 6);
        assert_eq!(r.segments.len(), 2);
        assert_eq!(r.segments[0].max_block, Some(3));
        assert!(r.torn.is_none());
    }

    #[test]
    fn a_torn_tail_is_truncated_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 1, 1..3);
        let offsets = write_segment(dir.path(), 2, 3..6);
        let path = segment_path(dir.path(), 2);
        let full = fs::read(&path).unwrap();
        // Cut the last record in the middle, as a crash during its write would.
        let cut = offsets[2] + 20;
        fs::write(&path, &full[..cut]).unwrap();
        let r = recover(dir.path(), 0).unwrap();
        assert_eq!(numbers(&r), vec![1, 2, 3, 4]);
        let torn = r.torn.expect("torn tail reported");
        assert_eq!(torn.offset, offsets[2] as u64);
        assert_eq!(torn.dropped_bytes, 20);
        assert_eq!(fs::metadata(&path).unwrap().len(), offsets[2] as u64);
        // Reading again finds a clean log.
        let again = recover(dir.path(), 0).unwrap();
        assert_eq!(numbers(&again), vec![1, 2, 3, 4]);
        assert!(again.torn.is_none());
    }

    #[test]
    fn a_bad_checksum_at_the_tail_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = write_segment(dir.path(), 1, 1..4);
        let path = segment_path(dir.path(), 1);
        let mut data = fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        // Zeros after it, as a file extended by a crash may hold.
        data.extend_from_slice(&[0; 100]);
        fs::write(&path, &data).unwrap();
        let r = recover(dir.path(), 0).unwrap();
        assert_eq!(numbers(&r), vec![1, 2]);
        let torn = r.torn.unwrap();
        assert!(torn.reason.contains("checksum"), "{}", torn.reason);
        assert_eq!(torn.offset, offsets[2] as u64);
    }

    #[test]
    fn a_cut_record_is_torn_even_if_its_payload_holds_a_valid_frame() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 1, 1..3);
        let path = segment_path(dir.path(), 1);
        let mut data = fs::read(&path).unwrap();
        let good = data.len();
        // A record claiming 1000 bytes, cut after 200 that happen to hold a whole valid
        // frame (calldata can carry anything).
        data.extend_from_slice(&MAGIC);
        data.extend_from_slice(&1000u32.to_le_bytes());
        data.extend_from_slice(&[0; 4]);
        record::encode_block_end(&mut data, &end(9));
        data.extend_from_slice(&[7; 60]);
        fs::write(&path, &data).unwrap();
        let r = recover(dir.path(), 0).unwrap();
        assert_eq!(numbers(&r), vec![1, 2]);
        let torn = r.torn.unwrap();
        assert!(torn.cut_short);
        assert_eq!(torn.offset, good as u64);
    }

    #[test]
    fn corruption_in_the_middle_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = write_segment(dir.path(), 1, 1..5);
        let path = segment_path(dir.path(), 1);
        let mut data = fs::read(&path).unwrap();
        data[offsets[1] + 14] ^= 0x01;
        fs::write(&path, &data).unwrap();
        let err = recover(dir.path(), 0).unwrap_err();
        match &err {
            WalError::Corrupt { offset, reason, .. } => {
                assert_eq!(*offset, offsets[1] as u64);
                assert!(reason.contains("checksum"), "{reason}");
            }
            other => panic!("expected corruption, got {other}"),
        }
        // Nothing was truncated.
        assert_eq!(fs::read(&path).unwrap(), data);
    }

    #[test]
    fn corruption_in_an_earlier_segment_stops_start_up_even_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 1, 1..3);
        write_segment(dir.path(), 2, 3..5);
        let path = segment_path(dir.path(), 1);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"PWL1garbage").unwrap();
        assert!(matches!(
            recover(dir.path(), 0),
            Err(WalError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_missing_segment_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 1, 1..3);
        write_segment(dir.path(), 3, 3..5);
        let err = recover(dir.path(), 0).unwrap_err();
        assert!(err.to_string().contains("segment 2 is missing"), "{err}");
    }
}

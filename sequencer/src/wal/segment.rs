//! Segment files: naming, listing, and reading them back at start-up.
//!
//! Segments are `<dir>/<index:016>.wal`, numbered from 1, written in order; only the last
//! one is ever appended to. Reading checks every record's checksum:
//! - a bad record in the **last** segment with no record of the log after it is a torn
//!   tail (a write the crash cut short): the segment is truncated before it, and the loss
//!   is reported (those records were never acknowledged: promises go out after the
//!   write);
//! - a bad record anywhere else (an earlier segment, or with a record of the log after
//!   it) is corruption in the middle: start-up stops with the segment and offset, rather
//!   than dropping what follows. A record whose length field is damaged reads as one
//!   running past the end of the file, exactly like a torn one; only the records after
//!   it tell the two apart, so they are looked for whatever the error. A "record of the
//!   log" is a valid frame of the same block as the last good record or a later one: a
//!   frame inside a cut record's payload (calldata can carry anything) from an older
//!   block does not count. (One that passes even this is refused, the safe side: the
//!   operator decides with `peregrine wal cut`.)

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

/// Where the first valid record of block `since` or later starts after `from` in
/// `data` (any valid record when `since` is `None`).
fn log_record_after(data: &[u8], from: usize, since: Option<u64>) -> Option<usize> {
    let mut at = from;
    while let Some(found) = data
        .get(at..)
        .and_then(|rest| rest.windows(MAGIC.len()).position(|w| w == MAGIC))
    {
        let start = at + found;
        if let Ok((rec, _)) = record::decode(&data[start..])
            && since.is_none_or(|b| rec.block_number() >= b)
        {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

/// Reads every segment in `dir` (created if missing), keeps the records of L2 blocks
/// after `checkpoint_block`, and truncates a torn tail: one no longer than `max_write`
/// (the most one write of the log carries, `wal.max-write`) with no record of the log
/// after it.
pub fn recover(dir: &Path, checkpoint_block: u64, max_write: u64) -> Result<Recovered, WalError> {
    fs::create_dir_all(dir).map_err(|e| WalError::io(dir, e))?;
    let files = list(dir)?;
    let mut out = Recovered::default();
    let last = files.len().saturating_sub(1);
    let mut last_block = None;
    for (i, (index, path)) in files.into_iter().enumerate() {
        let data = fs::read(&path).map_err(|e| WalError::io(&path, e))?;
        let mut pos = 0usize;
        let mut max_block = None;
        while pos < data.len() {
            match record::decode(&data[pos..]) {
                Ok((rec, size)) => {
                    let block = rec.block_number();
                    max_block = Some(max_block.map_or(block, |m: u64| m.max(block)));
                    last_block = Some(block);
                    out.total_records += 1;
                    if block > checkpoint_block {
                        out.records.push(rec);
                    }
                    pos += size;
                }
                Err(err) => {
                    // A write cut short by a crash leaves a record running past the end
                    // (or, after a power loss, zeros). So does a damaged length field:
                    // either way the tail is torn only if no record of the log follows.
                    let cut_short =
                        err == FrameError::Incomplete || data[pos..].iter().all(|b| *b == 0);
                    let follows = log_record_after(&data, pos + 1, last_block);
                    let tail = (data.len() - pos) as u64;
                    let torn = i == last
                        && !matches!(err, FrameError::Malformed(_))
                        && follows.is_none()
                        && tail <= max_write;
                    if !torn {
                        let why = match follows {
                            Some(at) => format!("a valid record follows at byte {at}"),
                            None if i != last => "in a segment that is not the last".into(),
                            None if tail > max_write => format!(
                                "the {tail} bytes from there on are more than one write of the \
                                 log carries (wal.max-write = {max_write})"
                            ),
                            None => "a record that cannot be a torn write".into(),
                        };
                        return Err(WalError::Corrupt {
                            path,
                            offset: pos as u64,
                            reason: format!(
                                "{err}; {why}. Records after it may have been acknowledged, \
                                 so start-up stops instead of truncating: see `peregrine wal cut` \
                                 in docs/operations.md"
                            ),
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

/// What [`cut`] removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Bytes removed, the later segments' included.
    pub bytes: u64,
    /// Valid records among them (those the log may have acknowledged).
    pub records: u64,
    /// The lowest and highest L2 block of those records.
    pub blocks: Option<(u64, u64)>,
    /// Later segments deleted.
    pub later_segments: Vec<PathBuf>,
}

impl CutReport {
    fn count(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        let mut at = 0;
        while at < data.len() {
            match record::decode(&data[at..]) {
                Ok((rec, size)) => {
                    let b = rec.block_number();
                    self.records += 1;
                    self.blocks = Some(
                        self.blocks
                            .map_or((b, b), |(lo, hi)| (lo.min(b), hi.max(b))),
                    );
                    at += size;
                }
                Err(_) => match log_record_after(data, at + 1, None) {
                    Some(next) => at = next,
                    None => break,
                },
            }
        }
    }
}

/// The operator's cut (`peregrine wal cut`): truncates segment `path` at `offset` and
/// deletes every later segment, so that start-up can go on from what is left. Never done
/// by start-up itself: what it removes may have been acknowledged.
pub fn cut(path: &Path, offset: u64) -> Result<CutReport, WalError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let files = list(dir)?;
    let Some(position) = files
        .iter()
        .position(|(_, p)| p == path || fs::canonicalize(p).ok() == fs::canonicalize(path).ok())
    else {
        return Err(WalError::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason: "not a segment of its directory".into(),
        });
    };
    let data = fs::read(path).map_err(|e| WalError::io(path, e))?;
    let Some(removed) = data.get(offset as usize..) else {
        return Err(WalError::Corrupt {
            path: path.to_path_buf(),
            offset,
            reason: format!(
                "the offset is past the end of the file ({} bytes)",
                data.len()
            ),
        });
    };
    let mut report = CutReport::default();
    report.count(removed);
    for (_, later) in &files[position + 1..] {
        let bytes = fs::read(later).map_err(|e| WalError::io(later, e))?;
        report.count(&bytes);
        report.later_segments.push(later.clone());
    }
    // Later segments first, last to first, made durable, then the truncation: a crash
    // in between never leaves later records behind a shortened segment.
    for later in report.later_segments.iter().rev() {
        fs::remove_file(later).map_err(|e| WalError::io(later, e))?;
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WalError::io(dir, e))?;
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| WalError::io(path, e))?;
    file.set_len(offset)
        .and_then(|()| file.sync_all())
        .map_err(|e| WalError::io(path, e))?;
    Ok(report)
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

    const MAX_WRITE: u64 = crate::wal::config::DEFAULT_MAX_WRITE;

    fn numbers(r: &Recovered) -> Vec<u64> {
        r.records.iter().map(WalRecord::block_number).collect()
    }

    #[test]
    fn reads_in_order_and_keeps_what_the_checkpoint_does_not_cover() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 1, 1..4);
        write_segment(dir.path(), 2, 4..7);
        let r = recover(dir.path(), 2, MAX_WRITE).unwrap();
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
        let r = recover(dir.path(), 0, MAX_WRITE).unwrap();
        assert_eq!(numbers(&r), vec![1, 2, 3, 4]);
        let torn = r.torn.expect("torn tail reported");
        assert_eq!(torn.offset, offsets[2] as u64);
        assert_eq!(torn.dropped_bytes, 20);
        assert_eq!(fs::metadata(&path).unwrap().len(), offsets[2] as u64);
        // Reading again finds a clean log.
        let again = recover(dir.path(), 0, MAX_WRITE).unwrap();
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
        let r = recover(dir.path(), 0, MAX_WRITE).unwrap();
        assert_eq!(numbers(&r), vec![1, 2]);
        let torn = r.torn.unwrap();
        assert!(torn.reason.contains("checksum"), "{}", torn.reason);
        assert_eq!(torn.offset, offsets[2] as u64);
    }

    /// A record claiming 1000 bytes, cut after 200 that happen to hold a whole valid
    /// frame of block `inner` (calldata can carry anything), after blocks 1 and 2.
    fn cut_record_holding_a_frame_of(dir: &Path, inner: u64) -> usize {
        write_segment(dir, 1, 1..3);
        let path = segment_path(dir, 1);
        let mut data = fs::read(&path).unwrap();
        let good = data.len();
        data.extend_from_slice(&MAGIC);
        data.extend_from_slice(&1000u32.to_le_bytes());
        data.extend_from_slice(&[0; 4]);
        record::encode_block_end(&mut data, &end(inner));
        data.extend_from_slice(&[7; 60]);
        fs::write(&path, &data).unwrap();
        good
    }

    #[test]
    fn a_cut_record_is_torn_even_if_its_payload_holds_an_older_frame() {
        let dir = tempfile::tempdir().unwrap();
        let good = cut_record_holding_a_frame_of(dir.path(), 1);
        let r = recover(dir.path(), 0, MAX_WRITE).unwrap();
        assert_eq!(numbers(&r), vec![1, 2]);
        let torn = r.torn.unwrap();
        assert!(torn.cut_short);
        assert_eq!(torn.offset, good as u64);
    }

    #[test]
    fn a_cut_record_whose_payload_could_continue_the_log_stops_start_up() {
        // Indistinguishable from a damaged record followed by the log's next one: the
        // safe side is to stop, and truncate nothing.
        let dir = tempfile::tempdir().unwrap();
        let good = cut_record_holding_a_frame_of(dir.path(), 9);
        let before = fs::read(segment_path(dir.path(), 1)).unwrap();
        let err = recover(dir.path(), 0, MAX_WRITE).unwrap_err();
        assert!(
            matches!(&err, WalError::Corrupt { offset, .. } if *offset == good as u64),
            "{err}"
        );
        assert_eq!(fs::read(segment_path(dir.path(), 1)).unwrap(), before);
    }

    #[test]
    fn a_damaged_length_field_with_records_after_it_stops_start_up() {
        // The case: the first record of the last segment claims to run past the
        // end of the file. Before, it was read as a torn tail and the whole segment cut.
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 1, 1..3);
        let offsets = write_segment(dir.path(), 2, 3..8);
        let path = segment_path(dir.path(), 2);
        let mut data = fs::read(&path).unwrap();
        let claimed = (data.len() as u32 * 2).to_le_bytes();
        data[offsets[0] + 4..offsets[0] + 8].copy_from_slice(&claimed);
        fs::write(&path, &data).unwrap();
        let err = recover(dir.path(), 0, MAX_WRITE).unwrap_err();
        match &err {
            WalError::Corrupt {
                path: p,
                offset,
                reason,
            } => {
                assert_eq!(p, &path);
                assert_eq!(*offset, 0);
                assert!(reason.contains("a valid record follows"), "{reason}");
            }
            other => panic!("expected corruption, got {other}"),
        }
        assert_eq!(fs::read(&path).unwrap(), data, "nothing may be truncated");
    }

    #[test]
    fn corruption_in_the_middle_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = write_segment(dir.path(), 1, 1..5);
        let path = segment_path(dir.path(), 1);
        let mut data = fs::read(&path).unwrap();
        data[offsets[1] + 14] ^= 0x01;
        fs::write(&path, &data).unwrap();
        let err = recover(dir.path(), 0, MAX_WRITE).unwrap_err();
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
            recover(dir.path(), 0, MAX_WRITE),
            Err(WalError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_bad_tail_longer_than_one_write_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = write_segment(dir.path(), 1, 1..9);
        let path = segment_path(dir.path(), 1);
        let mut data = fs::read(&path).unwrap();
        // Zeros from the third record on: a torn write if one write could be that long.
        let tail = data.len() - offsets[2];
        data[offsets[2]..].fill(0);
        fs::write(&path, &data).unwrap();
        let err = recover(dir.path(), 0, tail as u64 - 1).unwrap_err();
        assert!(err.to_string().contains("wal.max-write"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), data, "nothing may be truncated");
        let r = recover(dir.path(), 0, tail as u64).unwrap();
        assert_eq!(numbers(&r), vec![1, 2]);
    }

    #[test]
    fn an_operator_cut_removes_the_rest_and_says_what() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = write_segment(dir.path(), 1, 1..5);
        write_segment(dir.path(), 2, 5..7);
        let path = segment_path(dir.path(), 1);
        let mut data = fs::read(&path).unwrap();
        data[offsets[1] + 14] ^= 0x01;
        fs::write(&path, &data).unwrap();
        assert!(recover(dir.path(), 0, MAX_WRITE).is_err());
        let report = cut(&path, offsets[1] as u64).unwrap();
        // Block 2's record is damaged; 3 and 4, and segment 2's 5 and 6, are valid.
        assert_eq!(report.records, 4);
        assert_eq!(report.blocks, Some((3, 6)));
        assert_eq!(report.later_segments, vec![segment_path(dir.path(), 2)]);
        let r = recover(dir.path(), 0, MAX_WRITE).unwrap();
        assert_eq!(numbers(&r), vec![1]);
    }

    #[test]
    fn a_missing_segment_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 1, 1..3);
        write_segment(dir.path(), 3, 3..5);
        let err = recover(dir.path(), 0, MAX_WRITE).unwrap_err();
        assert!(err.to_string().contains("segment 2 is missing"), "{err}");
    }
}

//! The `miniBlocks` notification body of recent mini-blocks, serialized once and shared by
//! every subscription: N replicas following the feed cost one serialization of each
//! mini-block (~2 kB of JSON for a transfer) instead of N.

use alloy_primitives::B256;
use peregrine_chain::record::MiniBlockRecord;
use serde_json::value::RawValue;
use std::{
    collections::VecDeque,
    sync::{Mutex, PoisonError},
};

/// Mini-blocks kept serialized (the newest ones; a subscriber replaying older history
/// serializes what it reads without evicting them).
pub(crate) const RECENT: usize = 256;

/// Serialized records by number, oldest first.
#[derive(Default)]
pub(crate) struct RecordJson {
    recent: Mutex<VecDeque<(u64, B256, Box<RawValue>)>>,
}

impl std::fmt::Debug for RecordJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordJson").finish_non_exhaustive()
    }
}

impl RecordJson {
    /// `record` as JSON: from the cache when a subscriber already serialized it.
    pub(crate) fn get(&self, record: &MiniBlockRecord) -> Result<Box<RawValue>, String> {
        let key = (record.number(), record.hash);
        if let Some(json) = self.find(key) {
            return Ok(json);
        }
        let json = serde_json::value::to_raw_value(record)
            .map_err(|e| format!("cannot encode mini-block {}: {e}", key.0))?;
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let newer = recent.back().is_none_or(|&(n, ..)| key.0 > n);
        if newer {
            recent.push_back((key.0, key.1, json.clone()));
            if recent.len() > RECENT {
                recent.pop_front();
            }
        }
        Ok(json)
    }

    fn find(&self, (number, hash): (u64, B256)) -> Option<Box<RawValue>> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent
            .iter()
            .rev()
            .find(|&&(n, h, _)| n == number && h == hash)
            .map(|(.., json)| json.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_chain::{
        MiniBlock, diff::DiffLog, record::sign_mini_block, recycle::Recycled,
        testing::block_context,
    };
    use peregrine_preconf::SequencerKey;

    /// A signed, empty mini-block `number` whose parent is `parent`.
    fn record(number: u64, parent: B256) -> MiniBlockRecord {
        let mini = MiniBlock {
            number,
            block: block_context(1),
            first_seq: number,
            txs: Recycled::detached(Vec::new()),
            diff: Recycled::detached(DiffLog::default()),
            closed_us: 1_000 + number,
            signed_us: None,
        };
        sign_mini_block(&SequencerKey::dev(), 901, parent, &mini)
    }

    fn cached(cache: &RecordJson) -> Vec<u64> {
        let recent = cache.recent.lock().unwrap();
        recent.iter().map(|&(n, ..)| n).collect()
    }

    #[test]
    fn serves_each_record_as_serde_writes_it_and_keeps_the_newest() {
        let cache = RecordJson::default();
        let records: Vec<_> = (0..RECENT as u64 + 10)
            .map(|n| record(n, B256::ZERO))
            .collect();
        for r in &records {
            let want = serde_json::to_string(r).unwrap();
            assert_eq!(
                cache.get(r).unwrap().get(),
                want,
                "first look at {}",
                r.number()
            );
            assert_eq!(cache.get(r).unwrap().get(), want, "cached {}", r.number());
        }
        let kept = cached(&cache);
        assert_eq!(kept.len(), RECENT);
        assert_eq!(kept.first(), Some(&10));
        assert_eq!(kept.last(), Some(&(RECENT as u64 + 9)));

        // A replay of old history is served but does not push the newest out.
        assert_eq!(
            cache.get(&records[3]).unwrap().get(),
            serde_json::to_string(&records[3]).unwrap()
        );
        assert_eq!(cached(&cache), kept);
    }

    #[test]
    fn a_different_record_with_a_cached_number_is_not_served_from_the_cache() {
        let cache = RecordJson::default();
        let first = record(5, B256::ZERO);
        let other = record(5, B256::repeat_byte(1));
        assert_ne!(first.hash, other.hash);
        cache.get(&first).unwrap();
        assert_eq!(
            cache.get(&other).unwrap().get(),
            serde_json::to_string(&other).unwrap()
        );
    }
}

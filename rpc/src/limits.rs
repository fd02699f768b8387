//! Bounds on what one request may ask for, each named after its config key, so that no
//! client can make the node build an answer (or hold a filter) of unbounded size.

use crate::error::{RpcError, RpcResult};
use alloy_rpc_types_eth::Filter;

/// Refuses a list longer than `limit` (`what` names it, `key` the config key).
pub(crate) fn list(what: &str, len: usize, limit: usize, key: &str) -> RpcResult<()> {
    if len > limit {
        return Err(RpcError::LimitExceeded(format!(
            "{what} has {len} items, the limit is {limit} (rpc.{key})"
        )));
    }
    Ok(())
}

/// A log filter's address list and each topic position, against `rpc.max-filter-items`.
pub(crate) fn log_filter(filter: &Filter, limit: usize) -> RpcResult<()> {
    list(
        "filter address list",
        filter.address.len(),
        limit,
        "max-filter-items",
    )?;
    for (i, topic) in filter.topics.iter().enumerate() {
        list(
            &format!("filter topic {i}"),
            topic.len(),
            limit,
            "max-filter-items",
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, B256};

    #[test]
    fn filters_are_bounded_per_list() {
        let addresses: Vec<Address> = (0..3u8).map(Address::repeat_byte).collect();
        let filter = Filter::new().address(addresses.clone());
        assert!(log_filter(&filter, 3).is_ok());
        let err = log_filter(&filter, 2).unwrap_err().to_string();
        assert!(
            err.contains("3 items, the limit is 2 (rpc.max-filter-items)"),
            "{err}"
        );
        let topics: Vec<B256> = (0..5u8).map(B256::repeat_byte).collect();
        let err = log_filter(&Filter::new().event_signature(topics), 4).unwrap_err();
        assert!(err.to_string().contains("filter topic 0"), "{err}");
    }
}

//! Splitting the subscribed addrs into subscriptions of at most
//! [`MAX_VALUES_PER_SUBSCRIPTION`] `#q` values each.

/// Most `#q` values in one subscription (REQ), so no relay sees a filter
/// too large for its `max_message_length` (256 × 67 bytes ≈ 17 KiB).
pub const MAX_VALUES_PER_SUBSCRIPTION: usize = 256;

/// Shards `addrs` in their order: shard `n` holds values
/// `[n × 256, (n + 1) × 256)`. Keep the order stable (registration order)
/// and a new addr changes only the last shard, so only it is re-sent.
#[must_use]
pub fn shard(addrs: &[String]) -> Vec<Vec<String>> {
    addrs
        .chunks(MAX_VALUES_PER_SUBSCRIPTION)
        .map(<[String]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_hold_at_most_256_values_in_order() {
        let addrs: Vec<String> = (0..600).map(|i| format!("{i:064x}")).collect();
        let shards = shard(&addrs);
        assert_eq!(
            shards.iter().map(Vec::len).collect::<Vec<_>>(),
            [256, 256, 88]
        );
        assert_eq!(shards.concat(), addrs);
        assert!(shard(&[]).is_empty());
    }
}

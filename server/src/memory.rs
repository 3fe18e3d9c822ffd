//! The C allocator's share of the server's memory. The event index, the rule engine and
//! DuckDB's own structures (outside its buffer pool) live on glibc's heap, which keeps freed
//! memory in per-thread arenas for reuse rather than handing it back: a soak showed half of the
//! heap's resident memory freed but held (and growing with the traffic). So the heap in use is
//! measured, for the status endpoint, and freed memory is handed back once a minute.

use std::time::Duration;

/// How often freed memory is handed back to the operating system.
pub const TRIM_EVERY: Duration = Duration::from_secs(60);

/// Bytes in use on the C heap (what is allocated and not freed); `None` off glibc.
pub fn heap_in_use_bytes() -> Option<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's counters (glibc 2.33 and later).
        let info = unsafe { libc::mallinfo2() };
        Some(info.uordblks + info.hblkhd)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// The heap a hash table (std's, hashbrown's) of `capacity` takes with `entry`-byte
/// entries: a power of two of slots at most 7/8 full, each with a control byte, and a group
/// of control bytes more.
pub fn hash_table_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let slots = if capacity < 8 { (capacity + 1).next_power_of_two() } else { (capacity * 8 / 7).next_power_of_two() };
    slots * (entry + 1) + 16
}

/// Hands the free memory of every arena back to the operating system (milliseconds).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Hands freed memory back every [`TRIM_EVERY`], on a blocking thread, for as long as the
/// runtime runs.
pub async fn release_now_and_then() {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let _ = tokio::task::spawn_blocking(release_free_memory).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_tables_bytes_count_its_slots_not_only_its_capacity() {
        // 1,000 wanted: 2,048 slots (7/8 of them usable), 17 bytes each and 16 more.
        let set: std::collections::HashSet<u128> = std::collections::HashSet::with_capacity(1000);
        assert_eq!(set.capacity(), 1792);
        assert_eq!(hash_table_bytes(set.capacity(), 16), 2048 * 17 + 16);
        let small: std::collections::HashSet<u128> = std::collections::HashSet::with_capacity(3);
        assert_eq!(hash_table_bytes(small.capacity(), 16), 4 * 17 + 16);
        assert_eq!(hash_table_bytes(0, 16), 0);
    }
}

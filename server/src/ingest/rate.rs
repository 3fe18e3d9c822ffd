//! Ingestion rate limits, per write key and per client address (GCRA, `governor`): one
//! runaway sender, or one leaked key, cannot take the store's whole write capacity.

use std::{net::IpAddr, num::NonZeroU32};

use governor::{clock::Clock as _, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Keys remembered before the idle ones are dropped.
const PRUNE_AT: usize = 10_000;

/// Requests per second allowed to one write key and to one client address, each with a
/// second's worth as burst; 0 switches that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub per_source: u32,
    pub per_address: u32,
}

impl RateLimits {
    /// No limits (tests, `wayline import`).
    pub const OFF: RateLimits = RateLimits { per_source: 0, per_address: 0 };
}

impl Default for RateLimits {
    /// Well above what one SDK sends (batches of up to 2,500 events), well below what fills
    /// the writer's queue.
    fn default() -> Self {
        RateLimits { per_source: 2_000, per_address: 1_000 }
    }
}

/// The limiters; one per server.
pub struct IngestThrottle {
    by_source: Option<DefaultKeyedRateLimiter<String>>,
    by_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl IngestThrottle {
    pub fn new(limits: RateLimits) -> Self {
        let quota = |n: u32| NonZeroU32::new(n).map(Quota::per_second);
        IngestThrottle {
            by_source: quota(limits.per_source).map(RateLimiter::keyed),
            by_address: quota(limits.per_address).map(RateLimiter::keyed),
        }
    }

    /// Counts one request from `address`; `Err(seconds)` to wait when it has used its share.
    pub fn admit_address(&self, address: IpAddr) -> Result<(), u64> {
        admit(self.by_address.as_ref(), &address)
    }

    /// Counts one request with `source`'s write key; `Err(seconds)` to wait.
    pub fn admit_source(&self, source: &str) -> Result<(), u64> {
        admit(self.by_source.as_ref(), &source.to_string())
    }
}

fn admit<K: Clone + Eq + std::hash::Hash>(limiter: Option<&DefaultKeyedRateLimiter<K>>, key: &K) -> Result<(), u64> {
    let Some(limiter) = limiter else { return Ok(()) };
    let clock = governor::clock::DefaultClock::default();
    limiter.check_key(key).map_err(|until| until.wait_time_from(clock.now()).as_secs().max(1))?;
    if limiter.len() > PRUNE_AT {
        limiter.retain_recent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_or_an_address_over_its_share_waits_while_others_go_on() {
        let throttle = IngestThrottle::new(RateLimits { per_source: 2, per_address: 3 });
        assert_eq!(throttle.admit_source("web"), Ok(()));
        assert_eq!(throttle.admit_source("web"), Ok(()));
        assert_eq!(throttle.admit_source("web"), Err(1), "the third request within a second waits");
        assert_eq!(throttle.admit_source("app"), Ok(()), "another key has its own share");

        let (one, two): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(throttle.admit_address(one), Ok(()));
        }
        assert!(throttle.admit_address(one).is_err());
        assert_eq!(throttle.admit_address(two), Ok(()));
    }

    #[test]
    fn a_limit_of_zero_is_off() {
        let throttle = IngestThrottle::new(RateLimits::OFF);
        for _ in 0..10_000 {
            assert_eq!(throttle.admit_source("web"), Ok(()));
        }
    }
}

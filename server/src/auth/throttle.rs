//! Sign-in attempts limited per client address and per account (GCRA, `governor`): guessing
//! passwords from one address, or at one account from many, slows to a trickle.

use std::{net::IpAddr, num::NonZeroU32};

use governor::{clock::Clock as _, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Attempts one address may make at once, then one per `60 / n` seconds.
const PER_ADDRESS_PER_MINUTE: u32 = 20;
/// Attempts at one account at once, then one per `60 / n` seconds.
const PER_ACCOUNT_PER_MINUTE: u32 = 5;
/// Keys remembered before the idle ones are dropped.
const PRUNE_AT: usize = 10_000;

/// The limiters; one per server.
pub struct LoginThrottle {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_account: DefaultKeyedRateLimiter<String>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        LoginThrottle {
            by_address: RateLimiter::keyed(per_minute(PER_ADDRESS_PER_MINUTE)),
            by_account: RateLimiter::keyed(per_minute(PER_ACCOUNT_PER_MINUTE)),
        }
    }
}

impl LoginThrottle {
    /// Counts one sign-in attempt; `Err(seconds)` to wait when the address or the account has
    /// used up its attempts.
    pub fn attempt(&self, address: IpAddr, account: &str) -> Result<(), u64> {
        let clock = governor::clock::DefaultClock::default();
        let wait = |outcome: governor::NotUntil<_>| outcome.wait_time_from(clock.now()).as_secs().max(1);
        self.by_address.check_key(&address).map_err(wait)?;
        self.by_account.check_key(&account.to_string()).map_err(wait)?;
        if self.by_address.len() > PRUNE_AT || self.by_account.len() > PRUNE_AT {
            self.by_address.retain_recent();
            self.by_account.retain_recent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_throttled_after_five_attempts_and_others_are_not() {
        let throttle = LoginThrottle::default();
        let address: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..PER_ACCOUNT_PER_MINUTE {
            assert!(throttle.attempt(address, "ada@example.com").is_ok());
        }
        let wait = throttle.attempt(address, "ada@example.com").unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(throttle.attempt(address, "bob@example.com").is_ok(), "another account is not held back");
    }

    #[test]
    fn an_address_is_throttled_across_accounts() {
        let throttle = LoginThrottle::default();
        let address: IpAddr = "192.0.2.2".parse().unwrap();
        for n in 0..PER_ADDRESS_PER_MINUTE {
            assert!(throttle.attempt(address, &format!("user{n}@example.com")).is_ok());
        }
        assert!(throttle.attempt(address, "someone-new@example.com").is_err());
        assert!(throttle.attempt("192.0.2.3".parse().unwrap(), "someone-new@example.com").is_ok());
    }
}

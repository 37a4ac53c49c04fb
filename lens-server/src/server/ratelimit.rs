//! Per-key GCRA rate limiting (governor), with the values for the headers.

use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

pub struct Limiter {
    inner: RateLimiter<
        String,
        DefaultKeyedStateStore<String>,
        DefaultClock,
        StateInformationMiddleware,
    >,
    clock: DefaultClock,
    burst: u32,
    per_request: Duration,
}

/// What the rate-limit headers say about one request.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds at which the bucket is full again (or, when denied, the next request fits).
    pub reset_epoch_s: u64,
    pub retry_after_s: u64,
}

impl Limiter {
    pub fn new(per_second: u32, burst: u32) -> Limiter {
        let per_second = NonZeroU32::new(per_second.max(1)).unwrap();
        let burst_nz = NonZeroU32::new(burst.max(1)).unwrap();
        let quota = Quota::per_second(per_second).allow_burst(burst_nz);
        let inner = RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>();
        Limiter {
            inner,
            clock: DefaultClock::default(),
            burst: burst_nz.get(),
            per_request: quota.replenish_interval(),
        }
    }

    pub fn check(&self, key: &str) -> Decision {
        let now_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        match self.inner.check_key(&key.to_string()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let refill = self.per_request * (self.burst - remaining.min(self.burst));
                Decision {
                    allowed: true,
                    limit: self.burst,
                    remaining,
                    reset_epoch_s: (now_epoch + refill).as_secs_f64().ceil() as u64,
                    retry_after_s: 0,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                Decision {
                    allowed: false,
                    limit: self.burst,
                    remaining: 0,
                    reset_epoch_s: (now_epoch + wait).as_secs_f64().ceil() as u64,
                    retry_after_s: secs,
                }
            }
        }
    }

    /// Forgets keys whose buckets are full, bounding memory.
    pub fn sweep(&self) {
        self.inner.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::Limiter;

    #[test]
    fn denies_after_burst() {
        let l = Limiter::new(1, 3);
        for expected in [2, 1, 0] {
            let d = l.check("k");
            assert!(d.allowed);
            assert_eq!(d.remaining, expected);
        }
        let d = l.check("k");
        assert!(!d.allowed);
        assert!(d.retry_after_s >= 1);
        assert!(l.check("other").allowed);
    }
}

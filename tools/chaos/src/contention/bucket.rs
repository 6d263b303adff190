//! Capacity per partition as token buckets: a second's worth of units at most, refilling
//! continuously. Time is passed in, so the tests choose it.

use std::{collections::HashMap, time::Instant};

use super::request::Partition;

/// One bucket: the units left at `at`. May be below zero: a read is charged after it was
/// answered, and an item larger than a whole bucket is let through only into debt.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    units: f64,
    at: Instant,
}

/// A bucket per partition, each holding up to `rate` units and gaining `rate` a second.
#[derive(Debug)]
pub struct Buckets {
    rate: f64,
    buckets: HashMap<Partition, Bucket>,
}

/// Buckets are forgotten once full (a full bucket is the same as none) when there are more
/// than this: a run touches a partition per radar.
const SWEEP_ABOVE: usize = 4096;

impl Buckets {
    pub fn new(rate: f64) -> Self {
        Self {
            rate,
            buckets: HashMap::new(),
        }
    }

    /// The units `partition` has at `now`.
    pub fn available(&mut self, partition: &Partition, now: Instant) -> f64 {
        self.refill(partition, now).units
    }

    /// Whether `units` may be spent now: when the bucket holds them, or when it is full (an
    /// item larger than a second's worth would otherwise never be written; DynamoDB writes it).
    pub fn allows(&mut self, partition: &Partition, units: f64, now: Instant) -> bool {
        let available = self.available(partition, now);
        available >= units || available >= self.rate
    }

    /// Spends `units`, into debt if need be.
    pub fn spend(&mut self, partition: &Partition, units: f64, now: Instant) {
        self.refill(partition, now).units -= units;
        if self.buckets.len() > SWEEP_ABOVE {
            let rate = self.rate;
            self.buckets
                .retain(|_, bucket| bucket.units + rate * secs(now, bucket.at) < rate);
        }
    }

    fn refill(&mut self, partition: &Partition, now: Instant) -> &mut Bucket {
        let rate = self.rate;
        let bucket = self.buckets.entry(partition.clone()).or_insert(Bucket {
            units: rate,
            at: now,
        });
        bucket.units = (bucket.units + rate * secs(now, bucket.at)).min(rate);
        bucket.at = bucket.at.max(now);
        bucket
    }
}

/// Seconds from `then` to `now`; none if `now` is earlier (concurrent callers read the clock
/// before taking the lock, so their times may arrive out of order).
fn secs(now: Instant, then: Instant) -> f64 {
    now.saturating_duration_since(then).as_secs_f64()
}

#[cfg(test)]
// Units here are whole numbers and halves, exact in binary.
#[allow(clippy::float_cmp)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn partition(pk: &str) -> Partition {
        Partition {
            table: "t".into(),
            pk: pk.into(),
        }
    }

    #[test]
    fn a_bucket_starts_full_and_refills_at_its_rate() {
        let start = Instant::now();
        let mut buckets = Buckets::new(1000.0);
        let hot = partition("BULK#1");

        assert_eq!(buckets.available(&hot, start), 1000.0);
        buckets.spend(&hot, 1000.0, start);
        assert!(!buckets.allows(&hot, 1.0, start));
        assert!(buckets.allows(&hot, 250.0, start + Duration::from_millis(250)));
        assert!(!buckets.allows(&hot, 251.0, start + Duration::from_millis(250)));
        assert_eq!(
            buckets.available(&hot, start + Duration::from_secs(5)),
            1000.0
        );
    }

    #[test]
    fn partitions_have_buckets_of_their_own() {
        let now = Instant::now();
        let mut buckets = Buckets::new(10.0);
        buckets.spend(&partition("A"), 10.0, now);

        assert!(!buckets.allows(&partition("A"), 1.0, now));
        assert!(buckets.allows(&partition("B"), 10.0, now));
    }

    #[test]
    fn debt_is_paid_back_before_anything_else_is_allowed() {
        let start = Instant::now();
        let mut buckets = Buckets::new(10.0);
        let p = partition("A");
        buckets.spend(&p, 30.0, start);

        assert_eq!(buckets.available(&p, start + Duration::from_secs(1)), -10.0);
        assert!(!buckets.allows(&p, 0.5, start + Duration::from_secs(2)));
        assert!(buckets.allows(&p, 0.5, start + Duration::from_millis(2100)));
    }

    #[test]
    fn a_full_bucket_lets_one_oversized_spend_through() {
        let now = Instant::now();
        let mut buckets = Buckets::new(10.0);
        let p = partition("A");

        assert!(buckets.allows(&p, 25.0, now));
        buckets.spend(&p, 25.0, now);
        assert!(!buckets.allows(&p, 25.0, now + Duration::from_secs(1)));
    }

    #[test]
    fn times_out_of_order_never_add_units() {
        let start = Instant::now();
        let mut buckets = Buckets::new(10.0);
        let p = partition("A");
        buckets.spend(&p, 10.0, start + Duration::from_secs(1));

        assert_eq!(buckets.available(&p, start), 0.0);
    }
}

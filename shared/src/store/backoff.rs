//! How long a write that met another (a transaction conflict, a throttled key) pauses before
//! it tries again: exponential backoff with full jitter, so that contenders spread out instead
//! of meeting again in step.

use std::time::Duration;

/// The first pause's ceiling, doubled each try up to [`CAP`].
const BASE: Duration = Duration::from_millis(50);
const CAP: Duration = Duration::from_secs(2);

/// The pause after the `tries`th contended try: anything from nothing to a ceiling that
/// doubles each try, capped.
pub(super) fn pause(tries: u32) -> Duration {
    let mut bytes = [0u8; 4];
    let random = getrandom::fill(&mut bytes).map_or(u32::MAX, |()| u32::from_le_bytes(bytes));
    full_jitter(tries, f64::from(random) / f64::from(u32::MAX))
}

/// [`pause`] for a random draw `fraction` in 0..=1.
fn full_jitter(tries: u32, fraction: f64) -> Duration {
    let ceiling = BASE.saturating_mul(1 << tries.min(16)).min(CAP);
    ceiling.mul_f64(fraction.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::radars::CONTENDED_TRIES;

    #[test]
    fn backoff_doubles_its_ceiling_up_to_the_cap_and_draws_below_it() {
        let ceilings: Vec<u128> = (1..=7).map(|t| full_jitter(t, 1.0).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(full_jitter(3, 0.0), Duration::ZERO);
        assert_eq!(full_jitter(3, 0.5).as_millis(), 200);
        let total: Duration = (1..CONTENDED_TRIES).map(|t| full_jitter(t, 1.0)).sum();
        assert!(
            total < Duration::from_secs(4),
            "{total:?} of pauses at most"
        );
    }
}

//! When to try again: the retry schedule (configuration, default 5 s, 5 min, 30 min, 2 h, 5 h,
//! 10 h, 10 h), jitter, `Retry-After`, and how long `bulk_completed` waits for its items.
//!
//! Attempt `n` that fails is followed by attempt `n + 1` after the schedule's `n`th pause,
//! spread by ±20 % so that receivers that failed together do not get their retries together.
//! A receiver's `Retry-After` may ask for a longer pause (up to [`MAX_RETRY_AFTER`]), never a
//! shorter one: a receiver that keeps answering `Retry-After: 1` cannot make us spend the
//! schedule in seconds. When the schedule is spent, the delivery is given up.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The spread of a pause around its scheduled length, in thousandths either way.
const JITTER_PERMILLE: u64 = 200;
/// The longest pause a `Retry-After` can ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 3600);
/// `bulk_completed`'s first wait for its items' deliveries; each next wait doubles, up to
/// [`LONGEST_WAIT`].
const FIRST_WAIT: Duration = Duration::from_secs(5);
/// The longest wait between two looks. Each look is one small `Query` and one SQS message, so
/// looking twice a minute costs a waiting bulk well under a cent a day; waiting longer would
/// hold the summary back for up to that long after its last item's event went out.
const LONGEST_WAIT: Duration = Duration::from_secs(30);
/// A waiting `bulk_completed` takes a look at least every [`LONGEST_WAIT`]; one not renewed
/// for three times that died, and another copy may take over.
pub const LOOK_RENEWED_WITHIN: Duration = LONGEST_WAIT.saturating_mul(3);

/// The pause before the attempt after failed attempt `attempt` (from 1), or `None` when the
/// schedule is spent. `unit` is a random number in `0..=1000` that picks the jitter.
pub fn next_pause(
    schedule: &[Duration],
    attempt: u32,
    retry_after: Option<Duration>,
    unit: u64,
) -> Option<Duration> {
    let scheduled = *schedule.get(usize::try_from(attempt).ok()?.checked_sub(1)?)?;
    let permille = 1000 - JITTER_PERMILLE + unit.min(1000) * 2 * JITTER_PERMILLE / 1000;
    let millis = u64::try_from(scheduled.as_millis()).unwrap_or(u64::MAX);
    let jittered = Duration::from_millis(millis.saturating_mul(permille) / 1000);
    Some(match retry_after {
        Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
        None => jittered,
    })
}

/// A random number in `0..=1000`, for [`next_pause`].
pub fn random_unit() -> u64 {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).map_or(500, |()| u64::from(u16::from_le_bytes(bytes)) % 1001)
}

/// A `Retry-After` value: delay-seconds, or an HTTP date (read against `now`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at: DateTime<Utc> = httpdate::parse_http_date(value).ok()?.into();
    (at - now).to_std().ok()
}

/// How long `bulk_completed` waits before looking again at its items' deliveries, after
/// `waits` earlier looks: 5 s, 10 s, 20 s, then every 30 s.
pub fn completion_wait(waits: u32) -> Duration {
    FIRST_WAIT
        .saturating_mul(1 << waits.min(16))
        .min(LONGEST_WAIT)
}

/// How long after its bulk completed `bulk_completed` waits for its items' deliveries at
/// most: the whole schedule at its longest, plus an hour. Past that, a delivery still pending
/// is stuck (its messages were lost to the queue's own dead-letter redrive), and the summary
/// goes anyway.
pub fn completion_patience(schedule: &[Duration]) -> Duration {
    schedule_span(schedule) + Duration::from_secs(3600)
}

/// The longest a delivery's schedule can last: every pause at its longest. An event held
/// behind an open circuit for longer than that after its bulk was accepted is given up.
pub fn schedule_span(schedule: &[Duration]) -> Duration {
    schedule.iter().sum::<Duration>() * 6 / 5
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_schedule() -> Vec<Duration> {
        shared::config::parse_schedule(shared::config::DEFAULT_RETRY_SCHEDULE).unwrap()
    }

    #[test]
    fn pauses_follow_the_schedule_within_twenty_percent() {
        let schedule = default_schedule();
        for (attempt, scheduled) in (1..).zip(&schedule) {
            let low = next_pause(&schedule, attempt, None, 0).unwrap();
            let mid = next_pause(&schedule, attempt, None, 500).unwrap();
            let high = next_pause(&schedule, attempt, None, 1000).unwrap();
            assert_eq!(low, *scheduled * 4 / 5, "attempt {attempt}");
            assert_eq!(mid, *scheduled, "attempt {attempt}");
            assert_eq!(high, *scheduled * 6 / 5, "attempt {attempt}");
        }
    }

    #[test]
    fn the_eighth_failure_spends_the_default_schedule() {
        let schedule = default_schedule();
        assert!(next_pause(&schedule, 7, None, 500).is_some());
        assert_eq!(next_pause(&schedule, 8, None, 500), None);
        assert_eq!(next_pause(&[], 1, None, 500), None);
        assert_eq!(next_pause(&schedule, 0, None, 500), None);
    }

    #[test]
    fn retry_after_can_lengthen_a_pause_up_to_a_bound_but_never_shorten_it() {
        let schedule = default_schedule();
        let hour = Duration::from_secs(3600);
        assert_eq!(next_pause(&schedule, 1, Some(hour), 500), Some(hour));
        assert_eq!(
            next_pause(&schedule, 2, Some(Duration::from_secs(1)), 500),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            next_pause(&schedule, 1, Some(hour * 100), 500),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now: DateTime<Utc> = "2026-05-25T11:17:12Z".parse().unwrap();
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Mon, 25 May 2026 11:18:12 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Mon, 25 May 2026 11:00:00 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn completion_waits_double_up_to_half_a_minute() {
        let waits: Vec<u64> = (0..6).map(|w| completion_wait(w).as_secs()).collect();
        assert_eq!(waits, [5, 10, 20, 30, 30, 30]);
        assert_eq!(completion_wait(u32::MAX).as_secs(), 30);
    }

    #[test]
    fn random_units_stay_in_range() {
        assert!((0..100).map(|_| random_unit()).all(|unit| unit <= 1000));
    }
}

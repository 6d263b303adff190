//! Fair delivery to one destination: how many of its deliveries may be in flight at once, how
//! fast they may start, and its circuit breaker. Pure: [`store::destinations`] keeps one
//! [`Destination`] per webhook host and changes it whole, so every dispatcher invocation sees
//! the same limits.
//!
//! A destination is a webhook URL's authority (host and port, lower case): two services on one
//! machine are two destinations, and so are a test's receivers on 127.0.0.1.
//!
//! # In flight
//!
//! A batch asks for as many slots as it has deliveries to the destination and holds the ones it
//! gets under one token, each until its attempt's deadline ([`Destination::admit`]); it gives
//! them back with what the attempts met ([`Destination::release`]). A crashed invocation's
//! slots free themselves at their deadline. At most [`Limits::in_flight`] are held at once.
//!
//! # Pace
//!
//! Starts are paced by a generic cell rate algorithm: each start, or each promise of one,
//! moves the destination's theoretical start time on by one interval, and a start may go when
//! that time is at most a second ahead (a second's worth may go at once). The interval is the
//! longer of `1 / per_second` and `latency / in_flight`: a destination that answers slowly is
//! paced at the rate its slots can take. A message that may not start now is told when its
//! place in the pace comes up and marked `paced`; when it comes back it needs only a free
//! slot, so a backlog waits about once each instead of circling the queue.
//!
//! # Circuit breaker
//!
//! [`Limits::failures_to_open`] failures in a row (timeouts, connection failures, `408`,
//! `429`, `5xx`) open the circuit for a cool-down ([`Limits::cool_down`], doubling with each
//! failed probe up to [`LONGEST_COOL_DOWN`]). While it is open no attempt is made: messages
//! wait without a slot and without spending an attempt. After the cool-down, one attempt is
//! the probe: its success closes the circuit, its failure opens it again. Any answer that is
//! not a failure (a 2xx, and also a 4xx: the receiver is up and has spoken) closes it.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::webhook_url::WebhookUrl;

/// The longest cool-down of an open circuit.
pub const LONGEST_COOL_DOWN: Duration = Duration::from_secs(600);
/// How long a message waits while a probe is out: long enough not to circle, short enough
/// that a destination that recovered gets its backlog soon after the probe's answer.
pub const PROBE_WAIT: Duration = Duration::from_secs(5);
/// The shortest wait: SQS delays by whole seconds.
const SHORTEST_WAIT: Duration = Duration::from_secs(1);
/// The answered attempts' latency up to which a destination counts as quick
/// ([`Destination::frees_slots_quickly`]).
const QUICK: Duration = Duration::from_millis(500);
/// How far ahead of now the pace may run: a second's worth of starts may go at once.
const BURST: Duration = Duration::from_secs(1);
/// The error recorded on a delivery given up because its destination's circuit held it back
/// longer than its whole retry schedule: no request was made.
pub const HELD_TOO_LONG: &str = "not attempted: the destination's circuit stayed open";
/// How many recent failures a destination keeps for operators.
pub const RECENT_FAILURES: usize = 5;

/// The limits every destination gets (configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deliveries to one destination in flight at once, across every invocation.
    pub in_flight: u32,
    /// Starts a second, at most. The default, 100, is about Convoy's default of 5,000 a
    /// minute per endpoint: a 1000-item bulk's events take at least 10 s to deliver.
    pub per_second: u32,
    /// Failures in a row that open the circuit.
    pub failures_to_open: u32,
    /// The first cool-down of an open circuit.
    pub cool_down: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            in_flight: 10,
            per_second: 100,
            failures_to_open: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

/// A destination's shared state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Destination {
    /// Slots held, by the token of the batch holding them.
    pub leases: BTreeMap<Uuid, Lease>,
    /// The pace's theoretical next start; `None` when it has never been paced.
    pub paced_until: Option<DateTime<Utc>>,
    pub circuit: Circuit,
    /// Failures since the last answer that was not one.
    pub failures: u32,
    /// Answered attempts' latency, smoothed (each new one weighs a fifth).
    pub latency_ms: u32,
    /// The latest failures, newest last, at most [`RECENT_FAILURES`].
    pub recent: Vec<Failure>,
    pub last_success: Option<DateTime<Utc>>,
}

/// Slots one batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub slots: u32,
    pub until: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Circuit {
    #[default]
    Closed,
    /// No attempt until `until`; `trips` counts the opens since it was last closed.
    Open { until: DateTime<Utc>, trips: u32 },
    /// The cool-down is over and one attempt (the holder of `probe`) decides, until `until`.
    Probing {
        probe: Uuid,
        until: DateTime<Utc>,
        trips: u32,
    },
}

impl Circuit {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open { .. } => "open",
            Self::Probing { .. } => "probing",
        }
    }
}

/// One failure, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at: DateTime<Utc>,
    pub what: String,
}

/// What one attempt met, as the breaker counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The receiver answered, with anything but a failure status.
    Answered { latency: Duration },
    /// A timeout, a connection failure, or a failure status.
    Failed { what: String },
}

/// One message asking to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    /// It already has its place in the pace: it needs only a slot.
    pub paced: bool,
}

/// The answer to one [`Ask`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start now, in one of the batch's slots.
    Go,
    Wait(Wait),
}

/// When a message that may not start now looks again, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub until: DateTime<Utc>,
    pub reason: WaitReason,
    /// Whether it keeps a place in the pace (see [`Ask::paced`]).
    pub paced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// The circuit is open.
    CircuitOpen,
    /// A probe is deciding.
    Probing,
    /// Every slot is held.
    InFlight,
    /// The pace is ahead.
    Paced,
}

impl WaitReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CircuitOpen => "circuit_open",
            Self::Probing => "probing",
            Self::InFlight => "in_flight",
            Self::Paced => "paced",
        }
    }
}

impl Destination {
    /// Slots held by live leases.
    pub fn in_flight(&self, now: DateTime<Utc>) -> u32 {
        self.leases
            .values()
            .filter(|lease| lease.until > now)
            .map(|lease| lease.slots)
            .sum()
    }

    /// Decides each ask in order and takes the slots of those that go under `token`, until
    /// `now + lease`. Give paced asks first: they have waited longest.
    pub fn admit(
        &mut self,
        token: Uuid,
        asks: &[Ask],
        now: DateTime<Utc>,
        limits: &Limits,
        lease: Duration,
    ) -> Vec<Decision> {
        self.leases.retain(|_, held| held.until > now);
        let interval = self.interval(limits);
        let lease_until = now + chrono_duration(lease);
        let decisions = match self.circuit {
            Circuit::Open { until, .. } if now < until => {
                spread(asks.len(), until, interval, WaitReason::CircuitOpen)
            }
            Circuit::Probing { until, .. } if now < until => spread(
                asks.len(),
                now + chrono_duration(PROBE_WAIT),
                interval,
                WaitReason::Probing,
            ),
            Circuit::Open { trips, .. } | Circuit::Probing { trips, .. } => {
                // The cool-down is over, or the last probe's holder vanished: one goes.
                let mut decisions = spread(
                    asks.len().saturating_sub(1),
                    now + chrono_duration(PROBE_WAIT),
                    interval,
                    WaitReason::Probing,
                );
                if !asks.is_empty() {
                    decisions.insert(0, Decision::Go);
                    self.circuit = Circuit::Probing {
                        probe: token,
                        until: lease_until,
                        trips,
                    };
                }
                decisions
            }
            Circuit::Closed => self.pace(asks, now, limits, interval, lease),
        };
        let going = decisions.iter().filter(|d| **d == Decision::Go).count();
        if going > 0 {
            self.leases.insert(
                token,
                Lease {
                    slots: u32::try_from(going).unwrap_or(u32::MAX),
                    until: lease_until,
                },
            );
        }
        decisions
    }

    /// A closed circuit's decisions: a free slot and the pace's turn.
    fn pace(
        &mut self,
        asks: &[Ask],
        now: DateTime<Utc>,
        limits: &Limits,
        interval: chrono::Duration,
        lease: Duration,
    ) -> Vec<Decision> {
        let mut free = limits.in_flight.saturating_sub(self.in_flight(now));
        let mut next = self.paced_until.map_or(now, |at| at.max(now));
        let burst = chrono_duration(BURST);
        let soonest = now + chrono_duration(SHORTEST_WAIT);
        let slot_free = soonest.max(now + self.slot_wait(now, lease));
        let decisions = asks
            .iter()
            .map(|ask| {
                let turn = ask.paced || next - now <= burst;
                if free > 0 && turn {
                    free -= 1;
                    if !ask.paced {
                        next += interval;
                    }
                    return Decision::Go;
                }
                if ask.paced {
                    // It has its place in the pace already, and waits for a slot only.
                    return Decision::Wait(Wait {
                        until: slot_free,
                        reason: WaitReason::InFlight,
                        paced: true,
                    });
                }
                // Its place in the pace: a second ahead of the pace's next start, as a fresh
                // ask would have found it; and no sooner than a slot is likely to be free.
                let (until, reason) = if free == 0 {
                    ((next - burst).max(slot_free), WaitReason::InFlight)
                } else {
                    ((next - burst).max(soonest), WaitReason::Paced)
                };
                next += interval;
                Decision::Wait(Wait {
                    until,
                    reason,
                    paced: true,
                })
            })
            .collect();
        self.paced_until = Some(next);
        decisions
    }

    /// How long its slots are likely to stay taken: as long as its answered attempts take; or,
    /// when its oldest attempt in flight has run longer than that, as long again as that one has
    /// run. So messages wait for a destination that does not answer ever longer (1 s, 2 s, 4 s,
    /// ...) rather than look again every second until its attempts time out. Lease starts are
    /// their ends less `lease`, the length every lease is taken for.
    fn slot_wait(&self, now: DateTime<Utc>, lease: Duration) -> Duration {
        let oldest = self
            .leases
            .values()
            .map(|held| held.until)
            .min()
            .and_then(|until| (now - (until - chrono_duration(lease))).to_std().ok())
            .unwrap_or_default();
        Duration::from_millis(u64::from(self.latency_ms)).max(oldest)
    }

    /// Whether its slots come back quickly enough for a batch to wait for one in its
    /// invocation rather than on the queue: the circuit is closed, no failure is being
    /// counted, and its answered attempts are known to be quick.
    pub fn frees_slots_quickly(&self) -> bool {
        self.circuit == Circuit::Closed
            && self.failures == 0
            && self.latency_ms > 0
            && Duration::from_millis(u64::from(self.latency_ms)) <= QUICK
    }

    /// The pace's interval: the longer of `1 / per_second` and `latency / in_flight`.
    fn interval(&self, limits: &Limits) -> chrono::Duration {
        let by_rate = 1000 / i64::from(limits.per_second.max(1));
        let by_latency = i64::from(self.latency_ms) / i64::from(limits.in_flight.max(1));
        chrono::Duration::milliseconds(by_rate.max(by_latency).max(1))
    }

    /// Whether `attempts` (of the batch holding `token`) move the circuit breaker: a failure,
    /// an answer while failures are counted or the circuit is not closed, or a probe that was
    /// not made. Otherwise returning the slots and noting the latency is all there is to do.
    pub fn moved_by(&self, token: Uuid, attempts: &[Health]) -> bool {
        let probing = matches!(self.circuit, Circuit::Probing { probe, .. } if probe == token);
        let failed = attempts
            .iter()
            .any(|health| matches!(health, Health::Failed { .. }));
        let answered = attempts.len() > usize::from(failed);
        failed
            || (probing && attempts.is_empty())
            || (answered && (self.failures > 0 || self.circuit != Circuit::Closed))
    }

    /// The smoothed latency after `attempts`' answers, if any answered.
    pub fn latency_after(&self, attempts: &[Health]) -> Option<u32> {
        let mut smoothed = None;
        let mut latency_ms = self.latency_ms;
        for health in attempts {
            if let Health::Answered { latency } = health {
                let this = u32::try_from(latency.as_millis()).unwrap_or(u32::MAX);
                latency_ms = if latency_ms == 0 {
                    this
                } else {
                    (latency_ms / 5).saturating_mul(4) + this / 5
                };
                smoothed = Some(latency_ms);
            }
        }
        smoothed
    }

    /// Gives back `token`'s slots and counts what its attempts met, in the order they ended.
    pub fn release(
        &mut self,
        token: Uuid,
        attempts: &[Health],
        now: DateTime<Utc>,
        limits: &Limits,
    ) {
        self.leases.remove(&token);
        let probing = matches!(self.circuit, Circuit::Probing { probe, .. } if probe == token);
        if probing && attempts.is_empty() {
            // The probe was not needed after all (its delivery was settled): the next ask
            // probes.
            if let Circuit::Probing { trips, .. } = self.circuit {
                self.circuit = Circuit::Open { until: now, trips };
            }
        }
        for health in attempts {
            match health {
                Health::Answered { .. } => {
                    // Answers only: a failing destination is held back by its circuit, and
                    // its timeouts must not slow its pace once it answers again.
                    if let Some(latency_ms) = self.latency_after(std::slice::from_ref(health)) {
                        self.latency_ms = latency_ms;
                    }
                    self.failures = 0;
                    self.circuit = Circuit::Closed;
                    self.last_success = Some(now);
                }
                Health::Failed { what } => {
                    self.failures = self.failures.saturating_add(1);
                    self.recent.push(Failure {
                        at: now,
                        what: what.clone(),
                    });
                    let excess = self.recent.len().saturating_sub(RECENT_FAILURES);
                    self.recent.drain(..excess);
                    self.circuit = match self.circuit {
                        Circuit::Probing { probe, trips, .. } if probe == token => {
                            open(now, trips + 1, limits)
                        }
                        Circuit::Closed if self.failures >= limits.failures_to_open => {
                            open(now, 1, limits)
                        }
                        unchanged => unchanged,
                    };
                }
            }
        }
    }

    /// Closes the circuit and forgets the failures, the pace and the slots: an operator's
    /// reset.
    pub fn reset(&mut self) {
        *self = Self {
            latency_ms: self.latency_ms,
            last_success: self.last_success,
            ..Self::default()
        };
    }
}

/// The destination of a webhook URL: its host (lower case, without a trailing dot) and port.
pub fn of_url(url: &WebhookUrl) -> String {
    url::Url::parse(url.as_str()).map_or_else(|_| url.as_str().to_ascii_lowercase(), |url| of(&url))
}

/// An operator's name for a destination: a URL, `host:port`, or a bare host (port 443).
pub fn parse(text: &str) -> Result<String, String> {
    let text = text.trim();
    let url = if text.contains("://") {
        url::Url::parse(text)
    } else {
        url::Url::parse(&format!("https://{text}"))
    };
    match url {
        Ok(url) if url.host_str().is_some_and(|host| !host.is_empty()) => Ok(of(&url)),
        _ => Err(format!("{text:?} is not a host, host:port or URL")),
    }
}

fn of(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn open(now: DateTime<Utc>, trips: u32, limits: &Limits) -> Circuit {
    let doubled = limits
        .cool_down
        .saturating_mul(1 << trips.saturating_sub(1).min(16));
    Circuit::Open {
        until: now + chrono_duration(doubled.min(LONGEST_COOL_DOWN)),
        trips,
    }
}

/// `count` waits from `from`, one interval apart, so that a backlog comes back as the pace
/// would let it go rather than all at once.
fn spread(
    count: usize,
    from: DateTime<Utc>,
    interval: chrono::Duration,
    reason: WaitReason,
) -> Vec<Decision> {
    (0..count)
        .map(|rank| {
            Decision::Wait(Wait {
                until: from + interval * i32::try_from(rank).unwrap_or(i32::MAX),
                reason,
                paced: false,
            })
        })
        .collect()
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(45);

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + second, 0).unwrap()
    }

    fn fresh(count: usize) -> Vec<Ask> {
        vec![Ask { paced: false }; count]
    }

    fn going(decisions: &[Decision]) -> usize {
        decisions.iter().filter(|d| **d == Decision::Go).count()
    }

    fn wait_of(decision: &Decision) -> Wait {
        match decision {
            Decision::Wait(wait) => *wait,
            Decision::Go => panic!("it went"),
        }
    }

    fn failed() -> Health {
        Health::Failed {
            what: "timed out".into(),
        }
    }

    fn answered() -> Health {
        Health::Answered {
            latency: Duration::from_millis(40),
        }
    }

    #[test]
    fn slots_are_shared_by_every_batch_up_to_the_cap() {
        let limits = Limits::default();
        let mut destination = Destination::default();
        let first = destination.admit(Uuid::new_v4(), &fresh(6), at(0), &limits, LEASE);
        let second = destination.admit(Uuid::new_v4(), &fresh(6), at(0), &limits, LEASE);
        assert_eq!((going(&first), going(&second)), (6, 4));
        assert_eq!(destination.in_flight(at(0)), 10);
        assert!(second[4..].iter().all(|d| matches!(
            d,
            Decision::Wait(Wait {
                reason: WaitReason::InFlight,
                paced: true,
                ..
            })
        )));
    }

    #[test]
    fn released_slots_and_lapsed_leases_are_free_again() {
        let limits = Limits::default();
        let mut destination = Destination::default();
        let token = Uuid::new_v4();
        destination.admit(token, &fresh(10), at(0), &limits, LEASE);
        destination.release(token, &[answered()], at(1), &limits);
        assert_eq!(destination.in_flight(at(1)), 0);
        // A crashed batch's slots come back at their deadline.
        destination.admit(Uuid::new_v4(), &fresh(10), at(2), &limits, LEASE);
        assert_eq!(destination.in_flight(at(2)), 10);
        assert_eq!(destination.in_flight(at(47)), 0);
        let later = destination.admit(Uuid::new_v4(), &fresh(3), at(47), &limits, LEASE);
        assert_eq!(going(&later), 3);
    }

    #[test]
    fn the_pace_lets_a_seconds_worth_go_and_books_the_rest_in_order() {
        let limits = Limits {
            in_flight: 1000,
            per_second: 10,
            ..Limits::default()
        };
        let mut destination = Destination::default();
        let decisions = destination.admit(Uuid::new_v4(), &fresh(40), at(0), &limits, LEASE);
        // Now, and a second ahead: eleven starts 100 ms apart.
        assert_eq!(going(&decisions), 11);
        let waits: Vec<Wait> = decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Wait(wait) => Some(*wait),
                Decision::Go => None,
            })
            .collect();
        assert!(waits.windows(2).all(|w| w[0].until <= w[1].until));
        assert!(
            waits
                .iter()
                .all(|w| w.paced && w.reason == WaitReason::Paced)
        );
        // The last of 40 at 10 a second comes back about three seconds on.
        assert_eq!(
            waits.last().unwrap().until,
            at(2) + chrono::Duration::milliseconds(900)
        );
        // A paced message that comes back needs only a slot.
        let back = destination.admit(
            Uuid::new_v4(),
            &[Ask { paced: true }],
            at(2),
            &limits,
            LEASE,
        );
        assert_eq!(back, [Decision::Go]);
    }

    #[test]
    fn a_paced_ask_that_waits_for_a_slot_books_no_second_place() {
        let limits = Limits::default();
        let mut destination = Destination::default();
        destination.admit(Uuid::new_v4(), &fresh(10), at(0), &limits, LEASE);
        let pace = destination.paced_until;

        let back = destination.admit(
            Uuid::new_v4(),
            &[Ask { paced: true }; 5],
            at(0),
            &limits,
            LEASE,
        );

        assert!(back.iter().all(|d| matches!(
            d,
            Decision::Wait(Wait {
                reason: WaitReason::InFlight,
                paced: true,
                ..
            })
        )));
        assert_eq!(destination.paced_until, pace, "the pace did not move");
    }

    #[test]
    fn messages_wait_for_slots_held_by_unanswered_attempts_as_long_again_as_they_ran() {
        let limits = Limits::default();
        let mut destination = Destination::default();
        destination.admit(Uuid::new_v4(), &fresh(10), at(0), &limits, LEASE);

        // Just taken: the next look is the soonest one.
        let early = destination.admit(Uuid::new_v4(), &fresh(1), at(0), &limits, LEASE);
        assert_eq!(wait_of(&early[0]).until, at(1));
        // Four seconds without an answer: another four before looking again.
        let late = destination.admit(
            Uuid::new_v4(),
            &[Ask { paced: true }],
            at(4),
            &limits,
            LEASE,
        );
        let wait = wait_of(&late[0]);
        assert_eq!((wait.until, wait.reason), (at(8), WaitReason::InFlight));
    }

    #[test]
    fn only_a_healthy_destination_known_to_answer_quickly_frees_its_slots_quickly() {
        let quick = Destination {
            latency_ms: 40,
            ..Destination::default()
        };
        assert!(quick.frees_slots_quickly());
        // Not yet answered: it may be one that never answers.
        assert!(!Destination::default().frees_slots_quickly());
        let slow = Destination {
            latency_ms: 2_000,
            ..Destination::default()
        };
        assert!(!slow.frees_slots_quickly());
        let failing = Destination {
            failures: 1,
            ..quick.clone()
        };
        assert!(!failing.frees_slots_quickly());
        let open = Destination {
            circuit: Circuit::Open {
                until: at(30),
                trips: 1,
            },
            ..quick
        };
        assert!(!open.frees_slots_quickly());
    }

    #[test]
    fn a_slow_destination_is_paced_at_what_its_slots_can_take() {
        let limits = Limits::default();
        let destination = Destination {
            latency_ms: 2000,
            ..Destination::default()
        };
        // Ten slots, two seconds each: five starts a second, not a hundred.
        assert_eq!(
            destination.interval(&limits),
            chrono::Duration::milliseconds(200)
        );
        assert_eq!(
            Destination::default().interval(&limits),
            chrono::Duration::milliseconds(10)
        );
    }

    #[test]
    fn a_run_of_failures_opens_the_circuit_and_nothing_goes_until_the_cool_down_ends() {
        let limits = Limits::default();
        let mut destination = Destination::default();
        let token = Uuid::new_v4();
        destination.admit(token, &fresh(5), at(0), &limits, LEASE);
        destination.release(token, &vec![failed(); 4], at(15), &limits);
        assert_eq!(destination.circuit, Circuit::Closed);
        destination.release(token, &[failed()], at(15), &limits);
        assert_eq!(
            destination.circuit,
            Circuit::Open {
                until: at(45),
                trips: 1
            }
        );
        assert_eq!(destination.recent.len(), RECENT_FAILURES);

        let held = destination.admit(Uuid::new_v4(), &fresh(3), at(20), &limits, LEASE);
        assert_eq!(going(&held), 0);
        assert!(held.iter().all(|d| matches!(
            d,
            Decision::Wait(Wait { reason: WaitReason::CircuitOpen, paced: false, until })
                if *until >= at(45)
        )));
        assert_eq!(destination.in_flight(at(20)), 0, "waiting holds no slot");
    }

    #[test]
    fn after_the_cool_down_one_probe_decides() {
        let limits = Limits::default();
        let mut destination = Destination {
            circuit: Circuit::Open {
                until: at(45),
                trips: 1,
            },
            failures: 5,
            ..Destination::default()
        };
        let probe = Uuid::new_v4();
        let first = destination.admit(probe, &fresh(4), at(46), &limits, LEASE);
        assert_eq!(going(&first), 1);
        assert_eq!(first[0], Decision::Go);
        let others = destination.admit(Uuid::new_v4(), &fresh(4), at(47), &limits, LEASE);
        assert_eq!(going(&others), 0, "one probe at a time");

        // It fails: open again, twice as long.
        destination.release(probe, &[failed()], at(61), &limits);
        assert_eq!(
            destination.circuit,
            Circuit::Open {
                until: at(121),
                trips: 2
            }
        );

        // The next probe answers: closed, and everything may go.
        let probe = Uuid::new_v4();
        destination.admit(probe, &fresh(1), at(121), &limits, LEASE);
        destination.release(probe, &[answered()], at(122), &limits);
        assert_eq!(destination.circuit, Circuit::Closed);
        assert_eq!(destination.failures, 0);
        let open = destination.admit(Uuid::new_v4(), &fresh(4), at(122), &limits, LEASE);
        assert_eq!(going(&open), 4);
    }

    #[test]
    fn a_vanished_or_unneeded_probe_lets_the_next_ask_probe() {
        let limits = Limits::default();
        let mut destination = Destination {
            circuit: Circuit::Open {
                until: at(0),
                trips: 1,
            },
            ..Destination::default()
        };
        // Its holder crashed: after its deadline someone else probes.
        destination.admit(Uuid::new_v4(), &fresh(1), at(1), &limits, LEASE);
        let after = destination.admit(Uuid::new_v4(), &fresh(1), at(47), &limits, LEASE);
        assert_eq!(after, [Decision::Go]);
        // Its delivery turned out settled: released with no attempt, the next ask probes now.
        let probe = Uuid::new_v4();
        destination.admit(probe, &fresh(1), at(100), &limits, LEASE);
        destination.release(probe, &[], at(100), &limits);
        assert_eq!(
            destination.admit(Uuid::new_v4(), &fresh(1), at(100), &limits, LEASE),
            [Decision::Go]
        );
    }

    #[test]
    fn only_failures_probes_and_recoveries_move_the_breaker() {
        let token = Uuid::new_v4();
        let healthy = Destination::default();
        assert!(!healthy.moved_by(token, &[answered(), answered()]));
        assert!(!healthy.moved_by(token, &[]));
        assert!(healthy.moved_by(token, &[answered(), failed()]));
        let counting = Destination {
            failures: 2,
            ..Destination::default()
        };
        assert!(
            counting.moved_by(token, &[answered()]),
            "an answer resets the count"
        );
        let probing = Destination {
            circuit: Circuit::Probing {
                probe: token,
                until: at(45),
                trips: 1,
            },
            ..Destination::default()
        };
        assert!(
            probing.moved_by(token, &[]),
            "an unmade probe hands the probe on"
        );
        assert!(!probing.moved_by(Uuid::new_v4(), &[]));
        assert_eq!(healthy.latency_after(&[failed()]), None);
        assert_eq!(healthy.latency_after(&[answered()]), Some(40));
    }

    #[test]
    fn a_destination_is_the_host_and_port_in_lower_case() {
        let of = |url: &str| of_url(&WebhookUrl::from_stored(url).unwrap());
        assert_eq!(
            of("https://Hooks.Example.com/a?b=c"),
            "hooks.example.com:443"
        );
        assert_eq!(
            of("https://hooks.example.com.:8443/"),
            "hooks.example.com:8443"
        );
        assert_eq!(of("http://127.0.0.1:9999/hooks"), "127.0.0.1:9999");
        assert_eq!(parse("Hooks.Example.com").unwrap(), "hooks.example.com:443");
        assert_eq!(parse("127.0.0.1:9999").unwrap(), "127.0.0.1:9999");
        assert_eq!(parse("https://a.io/x").unwrap(), "a.io:443");
        assert!(parse("").is_err());
        assert!(parse("a b").is_err());
    }

    #[test]
    fn cool_downs_double_up_to_the_longest() {
        let limits = Limits::default();
        let lengths: Vec<i64> = (1..8)
            .map(|trips| match open(at(0), trips, &limits) {
                Circuit::Open { until, .. } => (until - at(0)).num_seconds(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(lengths, [30, 60, 120, 240, 480, 600, 600]);
    }

    #[test]
    fn a_reset_closes_the_circuit_and_frees_everything() {
        let limits = Limits::default();
        let mut destination = Destination::default();
        destination.admit(Uuid::new_v4(), &fresh(10), at(0), &limits, LEASE);
        destination.release(Uuid::new_v4(), &vec![failed(); 5], at(1), &limits);
        destination.reset();
        assert_eq!(destination.circuit, Circuit::Closed);
        assert_eq!(destination.in_flight(at(1)), 0);
        assert!(destination.recent.is_empty());
        assert_eq!(
            going(&destination.admit(Uuid::new_v4(), &fresh(3), at(1), &limits, LEASE)),
            3
        );
    }
}

//! An account's usage: how many radars it activated, deactivated and failed, month by month.
//!
//! One small record per account and calendar month (UTC), three counters, each changed by an
//! `ADD` inside the write that makes it true: a single create's transaction, a deactivation's,
//! and a bulk's settlement when it completes ([`Store::settle_bulk`]), which counts all its
//! items at once. So counting costs a bulk one write, not one per item, and no record is
//! written by every item of an account (the hot key the lean write path removed). The
//! account's active and inactive counts are sums over its months, read with one `Query` of
//! its partition (a dozen small records a year), never a scan of its radars.
//!
//! A bulk's items count in the month its completion was fixed, not each in the month it was
//! decided: a bulk that straddles midnight at a month's end counts whole in the later month.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::Update;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Fields, Item, Store, key, n, s};
use crate::{Error, Result};

/// The counters of one month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthCounts {
    pub activated: u64,
    pub deactivated: u64,
    pub failed: u64,
}

/// Every month an account has counted, by `YYYY-MM`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub months: BTreeMap<String, MonthCounts>,
}

impl Usage {
    /// Radars created and not deactivated since.
    pub fn active(&self) -> u64 {
        let (activated, deactivated) = self.months.values().fold((0, 0), |(a, d), month| {
            (a + month.activated, d + month.deactivated)
        });
        activated.saturating_sub(deactivated)
    }

    pub fn inactive(&self) -> u64 {
        self.months.values().map(|month| month.deactivated).sum()
    }

    /// One month's counters; zeros for a month with nothing counted.
    pub fn month(&self, month: &str) -> MonthCounts {
        self.months.get(month).copied().unwrap_or_default()
    }
}

/// The `YYYY-MM` that `at` falls in.
pub fn month_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m").to_string()
}

fn usage_pk(account_id: Uuid) -> String {
    format!("USAGE#{account_id}")
}

const MONTH_PREFIX: &str = "MONTH#";

/// What to add to one month's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counted {
    pub(super) activated: u64,
    pub(super) deactivated: u64,
    pub(super) failed: u64,
}

impl Counted {
    pub(super) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// The update that adds `counted` to an account's month: one write of a transaction.
pub(super) fn count(
    table: &str,
    account_id: Uuid,
    at: DateTime<Utc>,
    counted: Counted,
) -> Result<Update> {
    Update::builder()
        .table_name(table)
        .set_key(Some(key(
            usage_pk(account_id),
            &format!("{MONTH_PREFIX}{}", month_of(at)),
        )))
        .update_expression("ADD activated :activated, deactivated :deactivated, failed :failed")
        .expression_attribute_values(":activated", n(counted.activated))
        .expression_attribute_values(":deactivated", n(counted.deactivated))
        .expression_attribute_values(":failed", n(counted.failed))
        .build()
        .map_err(Error::dynamo)
}

impl Store {
    /// Every month an account has counted. Eventually consistent: a count made a moment ago
    /// may show a moment later.
    pub async fn usage(&self, account_id: Uuid) -> Result<Usage> {
        let mut usage = Usage::default();
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(usage_pk(account_id)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(Error::dynamo)?;
            for record in page.items() {
                let (month, counts) = month_counts(record)?;
                usage.months.insert(month, counts);
            }
            start = page.last_evaluated_key;
            if start
                .as_ref()
                .is_none_or(std::collections::HashMap::is_empty)
            {
                return Ok(usage);
            }
        }
    }
}

fn month_counts(record: &Item) -> Result<(String, MonthCounts)> {
    let fields = Fields(record);
    let month = fields
        .string(super::SK)?
        .strip_prefix(MONTH_PREFIX)
        .ok_or_else(|| fields.corrupt("sk is not a month".into()))?
        .to_owned();
    let counter = |name| Ok::<_, Error>(fields.optional_number(name)?.unwrap_or(0));
    Ok((
        month,
        MonthCounts {
            activated: counter("activated")?,
            deactivated: counter("deactivated")?,
            failed: counter("failed")?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_radars_are_those_activated_and_not_deactivated() {
        let usage = Usage {
            months: BTreeMap::from([
                (
                    "2026-11".to_owned(),
                    MonthCounts {
                        activated: 5,
                        deactivated: 1,
                        failed: 2,
                    },
                ),
                (
                    "2026-12".to_owned(),
                    MonthCounts {
                        activated: 1,
                        deactivated: 2,
                        failed: 0,
                    },
                ),
            ]),
        };
        assert_eq!((usage.active(), usage.inactive()), (3, 3));
        assert_eq!(usage.month("2026-11").failed, 2);
        assert_eq!(usage.month("2027-01"), MonthCounts::default());
    }

    #[test]
    fn months_are_utc_calendar_months() {
        let at: DateTime<Utc> = "2026-12-31T23:59:59Z".parse().unwrap();
        assert_eq!(month_of(at), "2026-12");
    }
}

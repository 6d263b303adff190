//! Rate-limit windows: one counter per account, bucket and fixed window.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{EXPIRES_AT, Fields, Store, key, n, unless_condition_failed};
use crate::{
    Result,
    rate_limit::{Admission, Bucket, Limits, RateLimitExceeded, Window, WindowKind},
};

/// Counters outlive their window by this much before TTL removes them.
const COUNTER_TTL_SECONDS: i64 = 3600;

impl Store {
    /// Spends one token of `bucket` for `account`, in every window of the bucket (shortest
    /// first), or says which window is spent. Each window is one conditional `ADD`, so
    /// concurrent callers are admitted exactly up to the limit.
    pub async fn take_rate_token(
        &self,
        account: Uuid,
        bucket: Bucket,
        limits: &Limits,
        now: DateTime<Utc>,
    ) -> Result<Result<Admission, RateLimitExceeded>> {
        let windows = limits.windows(bucket);
        let per_minute = windows
            .iter()
            .find(|w| w.kind == WindowKind::Minute)
            .map_or(0, |w| w.limit);
        let mut admission = None;
        for window in &windows {
            let start = window_start(now, window.kind);
            let end_ms = (start + window.kind.seconds()) * 1000;
            let left_ms = u64::try_from(end_ms - now.timestamp_millis())
                .unwrap_or(1)
                .max(1);
            let seconds_left = left_ms.div_ceil(1000);
            match self
                .count_in_window(account, bucket, *window, start)
                .await?
            {
                Some(count) if window.kind == WindowKind::Minute => {
                    admission = Some(Admission {
                        limit: window.limit,
                        remaining: window.limit.saturating_sub(count),
                        reset_after: seconds_left,
                    });
                }
                Some(_) => {}
                None => {
                    return Ok(Err(RateLimitExceeded {
                        bucket,
                        window: window.kind,
                        limit: per_minute,
                        retry_after: seconds_left,
                    }));
                }
            }
        }
        Ok(Ok(admission.unwrap_or(Admission {
            limit: per_minute,
            remaining: 0,
            reset_after: 0,
        })))
    }

    /// Adds one to the window's counter unless it has reached the limit. Returns the new
    /// count, or `None` when the window is spent.
    async fn count_in_window(
        &self,
        account: Uuid,
        bucket: Bucket,
        window: Window,
        start: i64,
    ) -> Result<Option<u32>> {
        let seconds = window.kind.seconds();
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(
                format!("RATE#{account}#{}#{seconds}#{start}", bucket.name()),
                "RATE",
            )))
            .update_expression("ADD #count :one SET #expires = :expires")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "request_count")
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(window.limit))
            .expression_attribute_values(":expires", n(start + seconds + COUNTER_TTL_SECONDS))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        let Some(output) = unless_condition_failed(result)? else {
            return Ok(None);
        };
        let attributes = output.attributes.unwrap_or_default();
        Ok(Some(Fields(&attributes).number("request_count")?))
    }
}

fn window_start(now: DateTime<Utc>, kind: WindowKind) -> i64 {
    let seconds = now.timestamp();
    seconds - seconds.rem_euclid(kind.seconds())
}

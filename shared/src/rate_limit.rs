//! Per-account rate limits: which buckets exist, their windows, and what an answer carries.
//!
//! Each window is a fixed window counted atomically in DynamoDB (see [`crate::store::rate`]):
//! one conditional `ADD` per window, so concurrent Lambdas can never admit more than the limit.

use serde::{Deserialize, Serialize};

/// The budgets of the spec that this API enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// `POST /v1/radars/bulk`: one token per submission, whatever its size.
    Bulk,
    /// `GET` endpoints, polling included, and `DELETE /v1/radars/{radar_id}`.
    Read,
    /// The single creates (`POST /v1/radars/companies`, `/contacts`, `/industry`).
    Write,
}

impl Bucket {
    pub fn name(self) -> &'static str {
        match self {
            Self::Bulk => "bulk",
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// How long a window lasts, and the `reason` a 429 names when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    Second,
    Minute,
}

impl WindowKind {
    pub fn seconds(self) -> i64 {
        match self {
            Self::Second => 1,
            Self::Minute => 60,
        }
    }

    /// The `reason` of the 429's `rate_limit` error.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Second => "burst",
            Self::Minute => "minute",
        }
    }
}

/// One window of a bucket and its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kind: WindowKind,
    pub limit: u32,
}

/// An account's limits. The defaults come from [`crate::config::Config`]; an account may
/// override any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub bulk_per_minute: u32,
    pub read_per_minute: u32,
    pub read_per_second: u32,
    pub write_per_minute: u32,
    pub write_per_second: u32,
}

impl Default for Limits {
    /// The spec's standard limits.
    fn default() -> Self {
        Self {
            bulk_per_minute: 10,
            read_per_minute: 200,
            read_per_second: 10,
            write_per_minute: 100,
            write_per_second: 10,
        }
    }
}

/// Per-account overrides, stored on the account record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_per_second: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_per_minute: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_per_second: Option<u32>,
}

impl Limits {
    #[must_use]
    pub fn with_overrides(self, overrides: &LimitOverrides) -> Self {
        Self {
            bulk_per_minute: overrides.bulk_per_minute.unwrap_or(self.bulk_per_minute),
            read_per_minute: overrides.read_per_minute.unwrap_or(self.read_per_minute),
            read_per_second: overrides.read_per_second.unwrap_or(self.read_per_second),
            write_per_minute: overrides.write_per_minute.unwrap_or(self.write_per_minute),
            write_per_second: overrides.write_per_second.unwrap_or(self.write_per_second),
        }
    }

    /// The windows of `bucket`, shortest first: a burst is refused before it spends a token of
    /// the per-minute budget.
    pub fn windows(&self, bucket: Bucket) -> Vec<Window> {
        match bucket {
            Bucket::Bulk => vec![Window {
                kind: WindowKind::Minute,
                limit: self.bulk_per_minute,
            }],
            Bucket::Read => vec![
                Window {
                    kind: WindowKind::Second,
                    limit: self.read_per_second,
                },
                Window {
                    kind: WindowKind::Minute,
                    limit: self.read_per_minute,
                },
            ],
            Bucket::Write => vec![
                Window {
                    kind: WindowKind::Second,
                    limit: self.write_per_second,
                },
                Window {
                    kind: WindowKind::Minute,
                    limit: self.write_per_minute,
                },
            ],
        }
    }
}

/// A request that was let through, and what its `X-RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The per-minute budget.
    pub limit: u32,
    /// Tokens left in the per-minute budget after this request.
    pub remaining: u32,
    /// Seconds until the per-minute budget is full again.
    pub reset_after: u64,
}

/// A request that was refused, and what its 429 says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitExceeded {
    pub bucket: Bucket,
    /// The window that fired: its kind is the 429's `reason`.
    pub window: WindowKind,
    /// The per-minute budget, for `X-RateLimit-Limit`.
    pub limit: u32,
    /// Whole seconds until the window that fired has room again (at least 1).
    pub retry_after: u64,
}

impl RateLimitExceeded {
    /// The 429's `message`: the bulk endpoint's own text, and the generic texts of the
    /// authentication page for the other buckets.
    pub fn message(&self) -> String {
        match (self.bucket, self.window) {
            (Bucket::Bulk, _) => "Rate limit exceeded — wait and retry.".to_owned(),
            (Bucket::Read | Bucket::Write, WindowKind::Minute) => format!(
                "Per-minute rate limit exceeded. Retry after {} seconds.",
                self.retry_after
            ),
            (Bucket::Read | Bucket::Write, WindowKind::Second) => {
                "Per-second rate limit exceeded. Retry after 1 second.".to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name() {
        let limits = Limits::default().with_overrides(&LimitOverrides {
            bulk_per_minute: Some(3),
            ..Default::default()
        });
        assert_eq!(
            limits,
            Limits {
                bulk_per_minute: 3,
                ..Limits::default()
            }
        );
    }

    #[test]
    fn read_bucket_checks_the_burst_window_first() {
        let kinds: Vec<_> = Limits::default()
            .windows(Bucket::Read)
            .iter()
            .map(|w| w.kind)
            .collect();
        assert_eq!(kinds, [WindowKind::Second, WindowKind::Minute]);
    }

    #[test]
    fn bulk_429_uses_the_bulk_pages_message() {
        let exceeded = RateLimitExceeded {
            bucket: Bucket::Bulk,
            window: WindowKind::Minute,
            limit: 10,
            retry_after: 51,
        };
        assert_eq!(exceeded.message(), "Rate limit exceeded — wait and retry.");
        let read = RateLimitExceeded {
            bucket: Bucket::Read,
            ..exceeded
        };
        assert_eq!(
            read.message(),
            "Per-minute rate limit exceeded. Retry after 51 seconds."
        );
    }
}

//! Timestamps as the API writes them.

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 in UTC with whole seconds and a `Z`, as in every example of the spec
/// (`2026-05-25T11:17:12Z`).
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Seconds since the Unix epoch, as DynamoDB's TTL attribute wants them.
pub fn epoch_seconds(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn rfc3339_uses_whole_seconds_and_z() {
        let at = Utc.with_ymd_and_hms(2026, 5, 25, 11, 17, 12).unwrap()
            + chrono::Duration::milliseconds(783);
        assert_eq!(rfc3339(at), "2026-05-25T11:17:12Z");
    }
}

//! A bulk's poll answer as one row per item, and rows as a CSV file.
//!
//! The rows come from `GET /v1/radars/bulk/{id}`, whose entries are the very events the
//! webhook carries, read with the server's own types: `radar_created` gives the radar's id,
//! `radar_failure` its code and `errors[]` (several errors of one item are joined with `; `).

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Write,
};

use serde::Deserialize;
use serde_json::Value;
use shared::api::{PollEntry, PollResponse, RadarCreated, RadarFailure, Status};
use uuid::Uuid;

use crate::{Error, Result};

/// What became of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Failed,
    Processing,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Failed => "failed",
            Self::Processing => "processing",
        }
    }
}

/// One item's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemResult {
    /// The input line it came from, when the state file knows it.
    pub row: Option<usize>,
    pub bulk_id: Uuid,
    pub item_index: u32,
    pub outcome: Outcome,
    /// The failure's code (400, 402, 409 or 500).
    pub code: Option<u16>,
    pub radar_id: Option<Uuid>,
    pub conflicting_radar_id: Option<Uuid>,
    pub field: Option<String>,
    pub reason: Option<String>,
    pub custom_fields: serde_json::Map<String, Value>,
}

/// Just the `update_type` of an event, to know which type to read it as.
#[derive(Deserialize)]
struct Kind {
    update_type: String,
}

/// Every item of `polled`, in item order; `lines` is the state file's record of the bulk's
/// input lines, when there is one.
pub fn of_bulk(polled: &PollResponse, lines: Option<&[usize]>) -> Result<Vec<ItemResult>> {
    polled
        .radars
        .iter()
        .map(|entry| {
            let mut result = of_entry(polled.bulk_id, entry)?;
            let at = usize::try_from(result.item_index).unwrap_or(usize::MAX);
            result.row = lines.and_then(|lines| lines.get(at).copied());
            Ok(result)
        })
        .collect()
}

fn of_entry(bulk_id: Uuid, entry: &PollEntry) -> Result<ItemResult> {
    let unreadable = |e| Error::Unexpected {
        status: 200,
        body: format!("an item of bulk {bulk_id} that is not a known event: {e}"),
    };
    let blank = |item_index, outcome, custom_fields: &Value| ItemResult {
        row: None,
        bulk_id,
        item_index,
        outcome,
        code: None,
        radar_id: None,
        conflicting_radar_id: None,
        field: None,
        reason: None,
        custom_fields: custom_fields.as_object().cloned().unwrap_or_default(),
    };
    let raw = match entry {
        PollEntry::InFlight(item) => {
            return Ok(blank(
                item.item_index,
                Outcome::Processing,
                &item.custom_fields,
            ));
        }
        PollEntry::Terminal(raw) => raw.get(),
    };
    let kind: Kind = serde_json::from_str(raw).map_err(unreadable)?;
    match kind.update_type.as_str() {
        "radar_created" => {
            let created: RadarCreated = serde_json::from_str(raw).map_err(unreadable)?;
            let mut result = blank(created.item_index, Outcome::Created, &created.custom_fields);
            result.radar_id = Some(created.data.radar_id);
            Ok(result)
        }
        "radar_failure" => {
            let failure: RadarFailure = serde_json::from_str(raw).map_err(unreadable)?;
            let mut result = blank(failure.item_index, Outcome::Failed, &failure.custom_fields);
            let errors = &failure.error.errors;
            let joined = |part: fn(&shared::api::FieldError) -> &str| {
                Some(errors.iter().map(part).collect::<Vec<_>>().join("; "))
                    .filter(|text| !text.is_empty())
            };
            result.code = Some(failure.error.code);
            result.field = joined(|error| error.field.as_str());
            result.reason = joined(|error| error.reason.as_str());
            result.conflicting_radar_id = errors.iter().find_map(|e| e.conflicting_radar_id);
            Ok(result)
        }
        other => Err(unreadable(serde::de::Error::custom(format!(
            "update_type {other}"
        )))),
    }
}

/// Whether every item of the bulk is decided.
pub fn is_complete(polled: &PollResponse) -> bool {
    polled.status == Status::Completed
}

/// Created items, and failed ones by code: a run's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub created: usize,
    pub failed: BTreeMap<u16, usize>,
    pub processing: usize,
}

impl Summary {
    pub fn of<'a>(results: impl IntoIterator<Item = &'a ItemResult>) -> Self {
        let mut summary = Self::default();
        for result in results {
            match (result.outcome, result.code) {
                (Outcome::Created, _) => summary.created += 1,
                (Outcome::Failed, Some(code)) => *summary.failed.entry(code).or_default() += 1,
                (Outcome::Failed, None) => *summary.failed.entry(0).or_default() += 1,
                (Outcome::Processing, _) => summary.processing += 1,
            }
        }
        summary
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let failed: usize = self.failed.values().sum();
        write!(f, "{} created, {failed} failed", self.created)?;
        if !self.failed.is_empty() {
            let codes: Vec<String> = self
                .failed
                .iter()
                .map(|(code, count)| format!("{count} × {code}"))
                .collect();
            write!(f, " ({})", codes.join(", "))?;
        }
        if self.processing > 0 {
            write!(f, ", {} still processing", self.processing)?;
        }
        Ok(())
    }
}

/// The fixed columns, before one `custom_fields.NAME` column per custom field.
pub const COLUMNS: [&str; 9] = [
    "row",
    "bulk_id",
    "item_index",
    "outcome",
    "code",
    "radar_id",
    "conflicting_radar_id",
    "field",
    "reason",
];

/// Writes `results` as CSV: [`COLUMNS`], then each custom field's key (sorted)
/// as a `custom_fields.KEY` column. A value that is not a string is written as JSON.
pub fn write_csv(results: &[ItemResult], out: impl Write) -> Result<()> {
    let keys: BTreeSet<&str> = results
        .iter()
        .flat_map(|result| result.custom_fields.keys().map(String::as_str))
        .collect();
    let mut writer = csv::Writer::from_writer(out);
    let mut header: Vec<String> = COLUMNS.iter().map(|column| (*column).to_owned()).collect();
    header.extend(keys.iter().map(|key| format!("custom_fields.{key}")));
    writer.write_record(&header)?;
    let text = |value: Option<String>| value.unwrap_or_default();
    for result in results {
        let mut record = vec![
            text(result.row.map(|row| row.to_string())),
            result.bulk_id.to_string(),
            result.item_index.to_string(),
            result.outcome.as_str().to_owned(),
            text(result.code.map(|code| code.to_string())),
            text(result.radar_id.map(|id| id.to_string())),
            text(result.conflicting_radar_id.map(|id| id.to_string())),
            text(result.field.clone()),
            text(result.reason.clone()),
        ];
        record.extend(keys.iter().map(|key| match result.custom_fields.get(*key) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        }));
        writer.write_record(&record)?;
    }
    writer.flush().map_err(|e| Error::Csv(e.into()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn polled(radars: &Value) -> PollResponse {
        serde_json::from_value(json!({
            "status": "processing", "code": 200, "timestamp": "t", "message": "m",
            "bulk_id": Uuid::nil(),
            "summary": {"total": 3, "processing": 1, "created": 1, "failed": 1},
            "radars": radars,
        }))
        .unwrap()
    }

    #[test]
    fn each_kind_of_entry_becomes_its_row() {
        let radar_id = Uuid::new_v4();
        let conflicting = Uuid::new_v4();
        let polled = polled(&json!([
            {"update_id": Uuid::new_v4(), "update_type": "radar_created", "completed_at": "t",
             "bulk_id": Uuid::nil(), "item_index": 0, "custom_fields": {"crm": "1"}, "status": "success",
             "data": {"radar_id": radar_id, "radar_type": "company_job_openings", "domain": "a.com",
                      "radar_status": "active", "created_at": "t", "custom_fields": {"crm": "1"}}},
            {"update_id": Uuid::new_v4(), "update_type": "radar_failure", "completed_at": "t",
             "discovered_at": "t", "bulk_id": Uuid::nil(), "item_index": 1, "custom_fields": {"crm": 2},
             "status": "error", "code": 409, "message": "Conflict: Radar already exists",
             "errors": [{"field": "domain", "reason": "taken", "conflicting_radar_id": conflicting}],
             "timestamp": "t", "error_id": Uuid::new_v4()},
            {"item_index": 2, "status": "processing", "custom_fields": {}},
        ]));

        let results = of_bulk(&polled, Some(&[10, 11, 12])).unwrap();

        assert_eq!(results[0].radar_id, Some(radar_id));
        assert_eq!(results[0].row, Some(10));
        assert_eq!(results[1].code, Some(409));
        assert_eq!(results[1].conflicting_radar_id, Some(conflicting));
        assert_eq!(results[1].field.as_deref(), Some("domain"));
        assert_eq!(results[2].outcome, Outcome::Processing);
        assert_eq!(
            Summary::of(&results).to_string(),
            "1 created, 1 failed (1 × 409), 1 still processing"
        );

        let mut csv = Vec::new();
        write_csv(&results, &mut csv).unwrap();
        let csv = String::from_utf8(csv).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "row,bulk_id,item_index,outcome,code,radar_id,conflicting_radar_id,field,reason,custom_fields.crm"
        );
        assert!(lines[2].starts_with("11,"));
        assert!(lines[2].ends_with(",domain,taken,2"), "{}", lines[2]);
    }
}

//! Input files read into radars, each with the line it came from.
//!
//! - `.csv`: a header row, then one radar a row. Columns are named after the item's fields;
//!   `countries`, `departments` and `seniorities` are lists, their values separated by `;`;
//!   `custom_fields.NAME` columns become the item's `custom_fields` (as strings). An empty cell
//!   is left out. A column the API does not know refuses the whole file, before anything is
//!   sent: a misspelt header would otherwise turn every row into a `400`.
//! - `.jsonl` (or `.ndjson`): one JSON object a line; blank lines are skipped.
//! - `.json`: an array of objects, or an object whose `radars` is one.
//!
//! A row that cannot be read (a CSV row with the wrong number of cells, a line that is not a
//! JSON object) is [`Rejected`] with its line and is not sent. Whether a radar is *valid* is
//! the API's to say, item by item: a row the API refuses comes back as a `400` in the results.

use std::path::Path;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The item fields a CSV column may name.
pub const FIELDS: [&str; 10] = [
    "radar_type",
    "domain",
    "keyword",
    "email",
    "profile_url",
    "full_name",
    "countries",
    "departments",
    "seniorities",
    "job_titles",
];
/// The fields whose CSV cell is a `;`-separated list.
const LISTS: [&str; 3] = ["countries", "departments", "seniorities"];
/// The prefix of a CSV column that names a custom field.
const CUSTOM: &str = "custom_fields.";

/// One radar to submit.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Where it came from: the line of a CSV or JSON Lines file (the header is line 1), or the
    /// position in a JSON array, from 1.
    pub line: usize,
    pub radar: Value,
}

/// A row that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub line: usize,
    pub reason: String,
}

/// A whole input file, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub rows: Vec<Row>,
    pub rejected: Vec<Rejected>,
    /// The SHA-256 of the file's bytes, hex: what its bulks' idempotency keys and the state
    /// file remember it by.
    pub digest: String,
}

/// How a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
    Json,
}

impl Format {
    /// The format a file's extension names.
    pub fn of(path: &Path) -> Result<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => Ok(Self::Csv),
            Some("jsonl" | "ndjson") => Ok(Self::JsonLines),
            Some("json") => Ok(Self::Json),
            _ => Err(Error::Input {
                path: path.to_owned(),
                reason: "the file must be .csv, .jsonl or .json".into(),
            }),
        }
    }
}

/// Reads the file at `path`, its format from its extension.
pub fn read(path: &Path) -> Result<Input> {
    let format = Format::of(path)?;
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    parse(format, &bytes).map_err(|reason| Error::Input {
        path: path.to_owned(),
        reason,
    })
}

/// Reads `bytes` written as `format`. An error is a file that cannot be read at all.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Input, String> {
    let (rows, rejected) = match format {
        Format::Csv => csv_rows(bytes)?,
        Format::JsonLines => json_lines(bytes),
        Format::Json => json_array(bytes)?,
    };
    Ok(Input {
        rows,
        rejected,
        digest: hex::encode(Sha256::digest(bytes)),
    })
}

/// What a CSV column becomes.
#[derive(Debug, Clone)]
enum Column {
    Field(&'static str),
    List(&'static str),
    Custom(String),
}

impl Column {
    fn named(name: &str) -> Result<Self, String> {
        let name = name.trim();
        if let Some(custom) = name.strip_prefix(CUSTOM) {
            if custom.is_empty() {
                return Err(format!("column {name:?} names no custom field"));
            }
            return Ok(Self::Custom(custom.to_owned()));
        }
        match FIELDS.iter().find(|field| **field == name) {
            Some(field) if LISTS.contains(field) => Ok(Self::List(field)),
            Some(field) => Ok(Self::Field(field)),
            None => Err(format!(
                "column {name:?} is not an item field ({}) nor custom_fields.NAME",
                FIELDS.join(", ")
            )),
        }
    }
}

fn csv_rows(bytes: &[u8]) -> Result<(Vec<Row>, Vec<Rejected>), String> {
    // Spreadsheets often save UTF-8 with a byte order mark, which would stick to the first
    // column's name.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let columns: Vec<Column> = reader
        .headers()
        .map_err(|e| format!("the header row cannot be read: {e}"))?
        .iter()
        .map(Column::named)
        .collect::<Result<_, _>>()?;
    let (mut rows, mut rejected) = (Vec::new(), Vec::new());
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| line_number(p.line()));
                let radar = csv_radar(&columns, &record);
                rows.push(Row { line, radar });
            }
            Err(error) => {
                let line = error.position().map_or(0, |p| line_number(p.line()));
                rejected.push(Rejected {
                    line,
                    reason: csv_reason(&error),
                });
            }
        }
    }
    Ok((rows, rejected))
}

fn line_number(line: u64) -> usize {
    usize::try_from(line).unwrap_or(usize::MAX)
}

fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} cells where the header has {expected_len}"),
        csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".into(),
        _ => error.to_string(),
    }
}

fn csv_radar(columns: &[Column], record: &csv::StringRecord) -> Value {
    let mut radar = Map::new();
    let mut custom = Map::new();
    for (column, cell) in columns.iter().zip(record.iter()) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        match column {
            Column::Field(name) => {
                radar.insert((*name).to_owned(), Value::String(cell.to_owned()));
            }
            Column::List(name) => {
                let values = cell
                    .split(';')
                    .map(str::trim)
                    .filter(|value| !value.is_empty())
                    .map(|value| Value::String(value.to_owned()))
                    .collect();
                radar.insert((*name).to_owned(), Value::Array(values));
            }
            Column::Custom(name) => {
                custom.insert(name.clone(), Value::String(cell.to_owned()));
            }
        }
    }
    if !custom.is_empty() {
        radar.insert("custom_fields".into(), Value::Object(custom));
    }
    Value::Object(radar)
}

fn json_lines(bytes: &[u8]) -> (Vec<Row>, Vec<Rejected>) {
    let (mut rows, mut rejected) = (Vec::new(), Vec::new());
    for (at, text) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = at + 1;
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(text) {
            Ok(radar @ Value::Object(_)) => rows.push(Row { line, radar }),
            Ok(_) => rejected.push(Rejected {
                line,
                reason: "is not a JSON object".into(),
            }),
            Err(error) => rejected.push(Rejected {
                line,
                reason: format!("is not JSON: {error}"),
            }),
        }
    }
    (rows, rejected)
}

fn json_array(bytes: &[u8]) -> Result<(Vec<Row>, Vec<Rejected>), String> {
    let items = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(items)) => items,
        Ok(Value::Object(mut object)) => match object.remove("radars") {
            Some(Value::Array(items)) => items,
            _ => return Err("an object must hold its radars in an array named radars".into()),
        },
        Ok(_) => return Err("must be an array of radars, or an object with radars".into()),
        Err(error) => return Err(format!("is not JSON: {error}")),
    };
    let (mut rows, mut rejected) = (Vec::new(), Vec::new());
    for (at, radar) in items.into_iter().enumerate() {
        let line = at + 1;
        if radar.is_object() {
            rows.push(Row { line, radar });
        } else {
            rejected.push(Rejected {
                line,
                reason: "is not a JSON object".into(),
            });
        }
    }
    Ok((rows, rejected))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_csv_row_becomes_an_item_with_lists_custom_fields_and_no_empty_cells() {
        let csv = "radar_type,domain,countries,job_titles,custom_fields.crm_id,keyword\n\
                   company_job_openings,acme.com,US; GB ,CTO,42,\n\
                   company_job_openings,short.io\n\
                   \"industry_mentions\",,,,,\"rust, lambda\"\n";
        let input = parse(Format::Csv, csv.as_bytes()).unwrap();

        assert_eq!(
            input.rows,
            [
                Row {
                    line: 2,
                    radar: json!({
                        "radar_type": "company_job_openings",
                        "domain": "acme.com",
                        "countries": ["US", "GB"],
                        "job_titles": "CTO",
                        "custom_fields": {"crm_id": "42"},
                    }),
                },
                Row {
                    line: 4,
                    radar: json!({"radar_type": "industry_mentions", "keyword": "rust, lambda"}),
                },
            ]
        );
        assert_eq!(input.rejected.len(), 1);
        assert_eq!(input.rejected[0].line, 3);
        assert!(input.rejected[0].reason.contains("2 cells"));
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_column() {
        let input = parse(Format::Csv, b"\xEF\xBB\xBFradar_type,domain\nx,y.com\n").unwrap();
        assert_eq!(
            input.rows[0].radar,
            json!({"radar_type": "x", "domain": "y.com"})
        );
    }

    #[test]
    fn an_unknown_csv_column_refuses_the_file() {
        let error = parse(Format::Csv, b"radar_type,domian\nx,y\n").unwrap_err();
        assert!(error.contains("\"domian\""), "{error}");
    }

    #[test]
    fn json_lines_and_arrays_keep_their_positions() {
        let lines = parse(Format::JsonLines, b"{\"a\":1}\n\n[1]\n{oops\n{\"b\":2}").unwrap();
        let kept: Vec<usize> = lines.rows.iter().map(|row| row.line).collect();
        let refused: Vec<usize> = lines.rejected.iter().map(|row| row.line).collect();
        assert_eq!((kept, refused), (vec![1, 5], vec![3, 4]));

        let array = parse(Format::Json, br#"{"radars": [{"a": 1}, 2, {"b": 2}]}"#).unwrap();
        let kept: Vec<usize> = array.rows.iter().map(|row| row.line).collect();
        assert_eq!(kept, [1, 3]);
        assert_eq!(array.rejected[0].line, 2);
        assert!(parse(Format::Json, b"{\"items\": []}").is_err());
    }

    #[test]
    fn the_digest_is_the_files_not_its_rows() {
        let one = parse(Format::JsonLines, b"{\"a\":1}\n").unwrap();
        let two = parse(Format::JsonLines, b"{\"a\":1}\n\n").unwrap();
        assert_eq!(one.rows, two.rows);
        assert_ne!(one.digest, two.digest);
    }
}

//! Radars split into bulks the API accepts: at most 1000 items and 1 MB of body each, in
//! input order, each with an `Idempotency-Key` derived from what it is. Sending the same
//! bulk again (after a crash, a lost connection, a `500`) replays the first `202` instead of
//! submitting it twice.

use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use shared::submission::{MAX_BODY_BYTES, MAX_ITEMS};

use crate::{Error, Result, input::Row};

/// One bulk, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Its position among the bulks of one submission, from 0.
    pub index: usize,
    /// The input line of each item, in item order: item `i` came from `lines[i]`.
    pub lines: Vec<usize>,
    /// The `POST /v1/radars/bulk` body.
    pub body: Vec<u8>,
    pub idempotency_key: String,
}

#[derive(Serialize)]
struct Body<'a> {
    webhook_url: &'a str,
    radars: Vec<&'a RawValue>,
}

/// Splits `rows` into bulks of at most `max_items` (at most the API's 1000) and 1 MB.
/// `origin` names what the rows are (the file's digest, or the bulks a retry comes from): with
/// `webhook_url` and the bulk's position and lines it makes the idempotency key, so the same
/// rows sent the same way get the same key, and anything else gets another.
pub fn split(
    rows: &[Row],
    webhook_url: &str,
    origin: &str,
    max_items: usize,
) -> Result<Vec<Chunk>> {
    let max_items = max_items.clamp(1, MAX_ITEMS);
    let radars: Vec<Box<RawValue>> = rows
        .iter()
        .map(|row| serde_json::value::to_raw_value(&row.radar))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Serialize("a radar", e))?;
    // The body with no radars, and one comma a radar beyond the first.
    let empty = body(webhook_url, &[])?.len();
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut size = empty;
        while end < rows.len() && end - start < max_items {
            let grown = size + radars[end].get().len() + usize::from(end > start);
            if grown > MAX_BODY_BYTES && end > start {
                break;
            }
            size = grown;
            end += 1;
        }
        let lines: Vec<usize> = rows[start..end].iter().map(|row| row.line).collect();
        let chunk_radars: Vec<&RawValue> = radars[start..end].iter().map(AsRef::as_ref).collect();
        chunks.push(Chunk {
            index: chunks.len(),
            idempotency_key: key(origin, webhook_url, chunks.len(), &lines),
            body: body(webhook_url, &chunk_radars)?,
            lines,
        });
        start = end;
    }
    Ok(chunks)
}

fn body(webhook_url: &str, radars: &[&RawValue]) -> Result<Vec<u8>> {
    serde_json::to_vec(&Body {
        webhook_url,
        radars: radars.to_vec(),
    })
    .map_err(|e| Error::Serialize("a bulk", e))
}

/// `radar-` and 40 hex digits of a SHA-256 over everything that makes the bulk what it is.
fn key(origin: &str, webhook_url: &str, index: usize, lines: &[usize]) -> String {
    let mut hash = Sha256::new();
    for part in [origin, webhook_url, &index.to_string()] {
        hash.update(part.as_bytes());
        hash.update(b"\n");
    }
    for line in lines {
        hash.update(line.to_le_bytes());
    }
    let digest = hex::encode(hash.finalize());
    format!("radar-{}", &digest[..40])
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn rows(count: usize, padding: usize) -> Vec<Row> {
        (0..count)
            .map(|at| Row {
                line: at + 2,
                radar: json!({"radar_type": "company_job_openings", "domain": format!("d{at}.com"), "custom_fields": {"pad": "x".repeat(padding)}}),
            })
            .collect()
    }

    #[test]
    fn bulks_hold_at_most_1000_items_in_input_order() {
        let chunks = split(&rows(2500, 0), "https://h.example/", "f", 1000).unwrap();
        let sizes: Vec<usize> = chunks.iter().map(|chunk| chunk.lines.len()).collect();
        assert_eq!(sizes, [1000, 1000, 500]);
        assert_eq!(chunks[1].lines[0], 1002);
        let body: Value = serde_json::from_slice(&chunks[2].body).unwrap();
        assert_eq!(body["webhook_url"], "https://h.example/");
        assert_eq!(body["radars"][0]["domain"], "d2000.com");
    }

    #[test]
    fn bulks_stay_under_the_body_limit() {
        let chunks = split(&rows(1000, 3000), "https://h.example/", "f", 1000).unwrap();
        assert!(chunks.len() > 1);
        assert!(
            chunks
                .iter()
                .all(|chunk| chunk.body.len() <= MAX_BODY_BYTES)
        );
        let items: usize = chunks.iter().map(|chunk| chunk.lines.len()).sum();
        assert_eq!(items, 1000);
    }

    #[test]
    fn the_same_rows_get_the_same_keys_and_anything_else_other_ones() {
        let rows = rows(30, 0);
        let keys = |origin: &str, url: &str, max: usize| -> Vec<String> {
            split(&rows, url, origin, max)
                .unwrap()
                .into_iter()
                .map(|chunk| chunk.idempotency_key)
                .collect()
        };
        let first = keys("f", "https://a.example/", 10);
        assert_eq!(first, keys("f", "https://a.example/", 10));
        assert_eq!(first.len(), 3);
        assert!(first.iter().all(|key| key.len() == 46));
        for other in [
            keys("g", "https://a.example/", 10),
            keys("f", "https://b.example/", 10),
        ] {
            assert!(other.iter().all(|key| !first.contains(key)));
        }
        assert_ne!(first[0], keys("f", "https://a.example/", 15)[0]);
    }
}

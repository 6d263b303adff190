//! `bulk submit` and `bulk retry`: rows into bulks, each sent with its idempotency key and
//! recorded in the state file as soon as it is accepted.
//!
//! Running the same command again after it stopped (a crash, a lost connection, a `500` that
//! outlasted the retries) sends every bulk again under the same key: those the API accepted
//! replay their first `202`, and the rest are submitted. Nothing is submitted twice.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use radar_client::{
    Client,
    chunk::{self, Chunk},
    input::{self, Row},
    results::{self, Outcome},
    state::{State, Submitted},
};
use uuid::Uuid;

use crate::{
    Failure, Output,
    cli::{RetryArgs, Sending, SubmitArgs},
};

/// Rows of one input file, to be sent to one webhook URL.
struct Batch<'a> {
    source: &'a Path,
    digest: &'a str,
    webhook_url: &'a str,
    chunks: Vec<Chunk>,
}

pub async fn submit(client: &Client, args: &SubmitArgs, output: &Output) -> Result<(), Failure> {
    let input = input::read(&args.file)?;
    for rejected in &input.rejected {
        output.line(format!(
            "{} line {}: {}; not sent",
            args.file.display(),
            rejected.line,
            rejected.reason
        ));
    }
    if input.rows.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: no radar to submit",
            args.file.display()
        )));
    }
    let batch = Batch {
        source: &args.file,
        digest: &input.digest,
        webhook_url: &args.webhook_url,
        chunks: chunk::split(
            &input.rows,
            &args.webhook_url,
            &input.digest,
            usize::from(args.sending.bulk_size),
        )?,
    };
    let state_path = state_of(&args.sending);
    let mut state = State::load(&state_path)?;
    let accepted = send(client, &batch, &mut state, &state_path, output).await?;
    follow(client, &accepted, &args.sending, &state_path, output).await
}

pub async fn retry(client: &Client, args: &RetryArgs, output: &Output) -> Result<(), Failure> {
    let state_path = state_of(&args.sending);
    let mut state = State::load(&state_path)?;
    // The lines to send again, per input file and webhook URL.
    let mut picked: BTreeMap<(PathBuf, String, String), BTreeSet<usize>> = BTreeMap::new();
    for &bulk_id in &args.bulk_ids {
        let record = state.find(bulk_id).cloned().ok_or_else(|| {
            Failure::Usage(format!(
                "bulk {bulk_id} is not in {}: retry needs the rows it was submitted from",
                state_path.display()
            ))
        })?;
        let polled = client.bulk(bulk_id).await?;
        if !results::is_complete(&polled) {
            output.line(format!(
                "bulk {bulk_id} is still processing: only its items decided so far are retried"
            ));
        }
        let lines = results::of_bulk(&polled, Some(&record.lines))?
            .into_iter()
            .filter(|item| {
                item.outcome == Outcome::Failed
                    && item.code.is_some_and(|code| args.codes.contains(&code))
            })
            .filter_map(|item| item.row);
        let webhook_url = args.webhook_url.clone().unwrap_or(record.webhook_url);
        picked
            .entry((record.source, record.digest, webhook_url))
            .or_default()
            .extend(lines);
    }
    let codes: Vec<String> = args.codes.iter().map(ToString::to_string).collect();
    if picked.values().all(BTreeSet::is_empty) {
        output.line(format!(
            "nothing to retry: no item of these bulks failed with {}",
            codes.join(" or ")
        ));
        return Ok(());
    }
    // What the retry is: its bulks' keys differ from every earlier submission's, and are the
    // same when this very retry is run again.
    let mut ids: Vec<String> = args.bulk_ids.iter().map(ToString::to_string).collect();
    ids.sort_unstable();
    let origin = format!("retry {} codes {}", ids.join(","), codes.join(","));
    let mut accepted = Vec::new();
    for ((source, digest, webhook_url), lines) in &picked {
        let rows = rows_again(source, digest, lines)?;
        output.line(format!(
            "retrying {} items of {} (codes {})",
            rows.len(),
            source.display(),
            codes.join(",")
        ));
        let batch = Batch {
            source,
            digest,
            webhook_url,
            chunks: chunk::split(
                &rows,
                webhook_url,
                &format!("{origin} {digest}"),
                usize::from(args.sending.bulk_size),
            )?,
        };
        accepted.extend(send(client, &batch, &mut state, &state_path, output).await?);
    }
    follow(client, &accepted, &args.sending, &state_path, output).await
}

/// The rows at `lines` of `source`, read again; refused if the file changed since.
fn rows_again(source: &Path, digest: &str, lines: &BTreeSet<usize>) -> Result<Vec<Row>, Failure> {
    let input = input::read(source)?;
    if input.digest != digest {
        return Err(Failure::Usage(format!(
            "{} changed since it was submitted: its rows cannot be matched to the results",
            source.display()
        )));
    }
    Ok(input
        .rows
        .into_iter()
        .filter(|row| lines.contains(&row.line))
        .collect())
}

fn state_of(sending: &Sending) -> PathBuf {
    crate::state_path(sending.state.as_deref(), sending.results.as_deref())
}

/// Sends every chunk in order, recording each accepted one. On a failure, says what was
/// accepted and what was not, and stops.
async fn send(
    client: &Client,
    batch: &Batch<'_>,
    state: &mut State,
    state_path: &Path,
    output: &Output,
) -> Result<Vec<Uuid>, Failure> {
    let count = batch.chunks.len();
    let mut accepted = Vec::with_capacity(count);
    for chunk in &batch.chunks {
        let rows = rows_named(&chunk.lines);
        match client.submit(&chunk.body, &chunk.idempotency_key).await {
            Ok(submitted) => {
                let bulk_id = submitted.accepted.bulk_id;
                output.line(format!(
                    "bulk {}/{count} {}: {bulk_id} ({} items, {rows})",
                    chunk.index + 1,
                    if submitted.replayed {
                        "accepted earlier"
                    } else {
                        "accepted"
                    },
                    chunk.lines.len(),
                ));
                state.record(Submitted {
                    bulk_id,
                    source: batch.source.to_owned(),
                    digest: batch.digest.to_owned(),
                    lines: chunk.lines.clone(),
                    webhook_url: batch.webhook_url.to_owned(),
                    idempotency_key: chunk.idempotency_key.clone(),
                });
                state.save(state_path)?;
                accepted.push(bulk_id);
            }
            Err(error) => {
                let unsent: Vec<usize> = batch.chunks[chunk.index..]
                    .iter()
                    .flat_map(|chunk| chunk.lines.iter().copied())
                    .collect();
                output.line(format!(
                    "bulk {}/{count} was not accepted: {error}",
                    chunk.index + 1
                ));
                output.line(format!(
                    "accepted: {} of {count} bulks ({}); not accepted: {} items ({}). Run the same command again to go on: the accepted bulks are replayed, not submitted twice.",
                    accepted.len(),
                    if accepted.is_empty() {
                        "none".to_owned()
                    } else {
                        accepted
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    unsent.len(),
                    rows_named(&unsent),
                ));
                return Err(Failure::Stopped(format!(
                    "stopped after {} of {count} bulks",
                    accepted.len()
                )));
            }
        }
    }
    Ok(accepted)
}

/// Lines as ranges: `rows 2-1001`, or `rows 2-5, 9`.
fn rows_named(lines: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &line in lines {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == line => *end = line,
            _ => ranges.push((line, line)),
        }
    }
    let parts: Vec<String> = ranges
        .into_iter()
        .map(|(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}-{end}")
            }
        })
        .collect();
    format!("rows {}", parts.join(", "))
}

/// With `--wait` or `--results`: follows the bulks to completion, summarises them and writes
/// their results.
async fn follow(
    client: &Client,
    accepted: &[Uuid],
    sending: &Sending,
    state_path: &Path,
    output: &Output,
) -> Result<(), Failure> {
    if !sending.wait && sending.results.is_none() {
        output.line(format!(
            "follow them with: radar bulk watch --state {}",
            state_path.display()
        ));
        return Ok(());
    }
    let polled =
        crate::watch::watch(client, accepted, crate::interval(sending.interval), output).await?;
    crate::watch::summarise(&polled, output)?;
    if let Some(out) = &sending.results {
        let state = State::load(state_path)?;
        crate::results::write(&polled, &state, out, false, output)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rows_named;

    #[test]
    fn lines_are_named_as_ranges() {
        assert_eq!(rows_named(&[2, 3, 4, 5, 9, 11, 12]), "rows 2-5, 9, 11-12");
        assert_eq!(rows_named(&[7]), "rows 7");
    }
}

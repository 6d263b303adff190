//! Following bulks until each is completed: one poll of each unfinished bulk a round, one
//! round every `interval`. The read bucket allows 10 requests a second; a `429` is waited out
//! by the client.
//!
//! On a terminal, each bulk has a progress bar and so does the whole; otherwise a plain line
//! is printed each time a bulk's count of decided items changes, and when it completes.

use std::{path::Path, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};
use radar_client::{
    Client,
    results::{self, Summary},
    state::State,
};
use shared::api::PollResponse;
use uuid::Uuid;

use crate::{Failure, Output};

/// The bulks named, or every bulk of the state file.
pub fn bulk_ids(given: &[Uuid], state: Option<&Path>) -> Result<Vec<Uuid>, Failure> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let path = crate::state_path(state, None);
    let ids: Vec<Uuid> = State::load(&path)?
        .bulks
        .iter()
        .map(|bulk| bulk.bulk_id)
        .collect();
    if ids.is_empty() {
        return Err(Failure::Usage(format!(
            "no bulk ids given, and none in {}",
            path.display()
        )));
    }
    Ok(ids)
}

/// One bulk being followed.
struct Followed {
    id: Uuid,
    last: Option<PollResponse>,
    bar: Option<ProgressBar>,
}

impl Followed {
    fn decided(&self) -> u64 {
        self.last.as_ref().map_or(0, |polled| {
            u64::from(polled.summary.created + polled.summary.failed)
        })
    }

    fn done(&self) -> bool {
        self.last.as_ref().is_some_and(results::is_complete)
    }
}

/// Polls every bulk of `ids` until all are completed; their last answers, in the order given.
pub async fn watch(
    client: &Client,
    ids: &[Uuid],
    interval: Duration,
    output: &Output,
) -> Result<Vec<PollResponse>, Failure> {
    let style = ProgressStyle::with_template("{prefix} [{bar:32}] {pos}/{len} {msg}")
        .map_err(|e| Failure::Usage(format!("progress style: {e}")))?
        .progress_chars("=> ");
    let total = output.bars().map(|bars| {
        let bar = bars.add(ProgressBar::new(0).with_style(style.clone()));
        bar.set_prefix("all bulks");
        bar
    });
    let mut followed: Vec<Followed> = ids
        .iter()
        .map(|&id| Followed {
            id,
            last: None,
            bar: output.bars().map(|bars| {
                let bar = bars.add(ProgressBar::new(0).with_style(style.clone()));
                bar.set_prefix(id.to_string());
                bar
            }),
        })
        .collect();
    loop {
        for bulk in followed.iter_mut().filter(|bulk| !bulk.done()) {
            let before = bulk.decided();
            let polled = client.bulk(bulk.id).await?;
            let first = bulk.last.is_none();
            bulk.last = Some(polled);
            show(bulk, first || bulk.decided() != before, output);
        }
        if let Some(total) = &total {
            let len: u64 = followed
                .iter()
                .filter_map(|bulk| bulk.last.as_ref())
                .map(|polled| u64::from(polled.summary.total))
                .sum();
            total.set_length(len);
            total.set_position(followed.iter().map(Followed::decided).sum());
        }
        if followed.iter().all(Followed::done) {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    if let Some(total) = total {
        total.finish();
    }
    Ok(followed.into_iter().filter_map(|bulk| bulk.last).collect())
}

/// Shows one bulk's progress: its bar, or a plain line when it moved.
fn show(bulk: &Followed, moved: bool, output: &Output) {
    let Some(polled) = &bulk.last else { return };
    let summary = polled.summary;
    let decided = summary.created + summary.failed;
    let counts = format!("{} created, {} failed", summary.created, summary.failed);
    if let Some(bar) = &bulk.bar {
        bar.set_length(u64::from(summary.total));
        bar.set_position(u64::from(decided));
        bar.set_message(counts);
        if bulk.done() {
            bar.finish();
        }
    } else if bulk.done() {
        output.line(format!("bulk {}: completed: {counts}", bulk.id));
    } else if moved {
        output.line(format!(
            "bulk {}: {decided}/{} decided ({counts})",
            bulk.id, summary.total
        ));
    }
}

/// The summary of completed bulks: created items, and failed ones by code.
pub fn summarise(polled: &[PollResponse], output: &Output) -> Result<(), Failure> {
    let mut all = Vec::new();
    for bulk in polled {
        all.extend(results::of_bulk(bulk, None)?);
    }
    output.line(format!(
        "{} bulk(s), {} items: {}",
        polled.len(),
        all.len(),
        Summary::of(&all)
    ));
    Ok(())
}

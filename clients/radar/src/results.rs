//! `bulk results`: one CSV row per item of the bulks, each naming its input row when the
//! state file knows it.

use std::{fs::File, io::BufWriter, path::Path};

use radar_client::{
    Client,
    results::{self, ItemResult, Outcome, Summary},
    state::State,
};
use shared::api::PollResponse;

use crate::{Failure, Output, cli::ResultsArgs};

pub async fn results(client: &Client, args: &ResultsArgs, output: &Output) -> Result<(), Failure> {
    let state_path = crate::state_path(args.state.as_deref(), Some(&args.out));
    let ids = crate::watch::bulk_ids(&args.bulk_ids, Some(&state_path))?;
    let state = State::load(&state_path)?;
    let mut polled = Vec::with_capacity(ids.len());
    for id in ids {
        polled.push(client.bulk(id).await?);
    }
    write(&polled, &state, &args.out, args.failed, output)
}

/// Writes the items of `polled` to `out` (only the failed ones with `failed_only`), and says
/// how many and what they were.
pub(crate) fn write(
    polled: &[PollResponse],
    state: &State,
    out: &Path,
    failed_only: bool,
    output: &Output,
) -> Result<(), Failure> {
    let mut rows: Vec<ItemResult> = Vec::new();
    for bulk in polled {
        let lines = state
            .find(bulk.bulk_id)
            .map(|record| record.lines.as_slice());
        rows.extend(
            results::of_bulk(bulk, lines)?
                .into_iter()
                .filter(|row| !failed_only || row.outcome == Outcome::Failed),
        );
    }
    let file = File::create(out).map_err(|e| Failure::Usage(format!("{}: {e}", out.display())))?;
    results::write_csv(&rows, BufWriter::new(file))?;
    output.line(format!(
        "wrote {} rows to {}: {}",
        rows.len(),
        out.display(),
        Summary::of(&rows)
    ));
    Ok(())
}

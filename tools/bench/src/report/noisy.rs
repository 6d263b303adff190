//! The noisy-neighbour section: B's bulk alone and beside A's misbehaving endpoint, each
//! figure beside its target, and what the stack ran with.

use std::{fmt::Write, time::Duration};

use crate::noisy::{Neighbour, Noisy, Run, TARGET_RATIO};

use super::{Table, verdict};

/// The rows of the targets table: B beside each failing endpoint, as a multiple of alone.
pub(super) fn targets(table: &mut Table, noisy: &Noisy) {
    for run in noisy.runs.iter().filter(|run| run.neighbour.has_target()) {
        let label = match run.neighbour {
            Neighbour::Silent => "a silent endpoint",
            _ => "an endpoint answering 500 after 10 s",
        };
        table.row(
            &format!("Noisy neighbour: B's bulk_completed beside {label}, × alone"),
            measured(noisy, run),
            &format!("≤ {TARGET_RATIO}"),
            Some(noisy.met(run)),
        );
    }
}

/// B's time beside the run's neighbour, as a multiple of alone and in seconds.
fn measured(noisy: &Noisy, run: &Run) -> String {
    let alone = noisy
        .runs
        .iter()
        .find(|r| r.neighbour == Neighbour::Alone)
        .and_then(|r| r.took);
    match (run.took, noisy.ratio(run)) {
        (Some(took), Some(ratio)) => format!(
            "{ratio:.2} ({} against {} alone)",
            seconds(took),
            alone.map_or_else(|| "–".into(), seconds)
        ),
        (Some(took), None) => format!("{} (alone did not complete)", seconds(took)),
        (None, _) => format!(
            "did not complete within {}{}",
            seconds(noisy.settings.deadline),
            alone.map_or_else(String::new, |alone| format!(
                " (> {:.0} × alone)",
                noisy.settings.deadline.as_secs_f64() / alone.as_secs_f64().max(1e-3)
            ))
        ),
    }
}

/// Every run's time to `bulk_completed`, in the order they ran.
fn each(run: &Run) -> String {
    run.each
        .iter()
        .map(|took| took.map_or_else(|| "–".into(), |took| format!("{:.1}", took.as_secs_f64())))
        .collect::<Vec<_>>()
        .join(", ")
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// The section, headed by `label` (what code it measured).
pub fn render(label: &str, when: &str, noisy: &Noisy) -> String {
    let settings = &noisy.settings;
    let setup = &noisy.setup;
    let mut out = String::new();
    let sources = setup
        .sources
        .iter()
        .map(|(function, queue, workers, batch)| {
            let queue = queue.rsplit('-').next().unwrap_or(queue);
            format!("{function} on {queue}: {workers} at once, batches of {batch}")
        })
        .collect::<Vec<_>>()
        .join("; ");
    let schedule = setup
        .retry_schedule
        .iter()
        .map(|pause| format!("{}s", pause.as_secs()))
        .collect::<Vec<_>>()
        .join(",");
    let environment = if settings.environment.is_empty() {
        "none".to_owned()
    } else {
        settings
            .environment
            .iter()
            .map(|(name, value)| format!("`{name}={value}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "### Noisy neighbour: {label}\n\n\
         Written by `bench` ({when}, a {build} build). Account B submits {b} items right after \
         account A's {a}-item submit returns; each run on a fresh stack, B's endpoint answering \
         200 at once, A's a server of the bench's. Timed from B's submit to its \
         `bulk_completed`, within {deadline}. Attempts on A are its endpoint's own count of \
         requests while B's bulk was running. Each case ran {repeats} times, the cases taking \
         turns: the table gives each figure's median, and every run's time.\n\n\
         The stack ran the template's event source mappings ({sources}), the dispatcher with \
         a {timeout} webhook timeout, {per_batch} deliveries of a batch in flight, and retry \
         schedule {schedule}; environment beyond the template's: {environment}.\n\n\
         | B's bulk | submit to bulk_completed | × alone | each run | to B's items all decided \
         | to B's last item event | B's webhooks received | attempts on A's endpoint meanwhile \
         | target |\n\
         |---|---:|---:|---|---:|---:|---:|---:|---|",
        repeats = settings.repeats,
        b = settings.b_items,
        a = settings.a_items,
        deadline = seconds(settings.deadline),
        timeout = seconds(setup.webhook_timeout),
        per_batch = setup.per_batch,
        build = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    for run in &noisy.runs {
        let target = if run.neighbour.has_target() {
            format!("≤ {TARGET_RATIO} × alone: {}", verdict(noisy.met(run)))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} of {} | {} | {target} |",
            run.neighbour.describe(),
            run.took.map_or_else(
                || format!("did not complete within {}", seconds(settings.deadline)),
                seconds
            ),
            noisy
                .ratio(run)
                .map_or_else(|| "–".into(), |ratio| format!("{ratio:.2}")),
            each(run),
            run.decided.map_or_else(|| "–".into(), seconds),
            run.last_item_event.map_or_else(|| "–".into(), seconds),
            run.b_deliveries,
            settings.b_items + 1,
            if run.neighbour == Neighbour::Alone {
                "–".into()
            } else {
                run.attempts_on_a.to_string()
            },
        );
    }
    out.push('\n');
    out
}

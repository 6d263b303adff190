//! `docs/PERFORMANCE.md`: every figure beside its target, met or not, and the cost arithmetic.
//!
//! The figures go between two markers; what the file holds outside them (the reading of the
//! figures, written by people) is kept when a new run replaces them.

mod noisy;
mod sections;
mod targets;

use std::fmt::Write;

use crate::{
    contention::ContentionRun,
    deliveries::Throughput,
    functions::Run,
    lean::Stacks,
    noisy::Noisy,
    scenarios::{BulkUsage, EndToEnd, PerItem, SubmitRuns},
    stats::Samples,
};

/// Everything one `make bench` measured; a section that failed is `None` and its error is
/// in `failures`.
#[derive(Debug, Default)]
pub struct Figures {
    pub when: String,
    pub machine: String,
    pub concurrency: usize,
    /// SDK set-up with its root certificates in one bundle file, as on Lambda.
    pub sdk_init: Option<Samples>,
    /// That bundle.
    pub sdk_init_bundle: Option<&'static str>,
    /// SDK set-up with the roots this machine's environment names.
    pub sdk_init_inherited: Option<Samples>,
    pub submit: Option<SubmitRuns>,
    pub one_bulk: Option<EndToEnd>,
    pub many_bulks: Option<EndToEnd>,
    pub per_item: Option<PerItem>,
    pub functions: Option<Vec<Run>>,
    /// Stripped arm64 `bootstrap` bytes of each function, if built.
    pub sizes: Vec<(&'static str, Option<u64>)>,
    pub stacks: Vec<(&'static str, Option<Stacks>)>,
    pub dispatch: Option<Throughput>,
    pub noisy: Option<Noisy>,
    /// The strict model's runs, one per processor concurrency.
    pub contention: Option<Vec<ContentionRun>>,
    pub failures: Vec<String>,
}

/// Decimal megabytes, as the targets are stated.
const MB: f64 = 1_000_000.0;

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**not met**" }
}

struct Table(String);

impl Table {
    fn new() -> Self {
        Self(String::from(
            "| figure | measured | target | |\n|---|---|---|---|\n",
        ))
    }

    fn row(
        &mut self,
        figure: &str,
        measured: impl std::fmt::Display,
        target: &str,
        met: Option<bool>,
    ) {
        let verdict = met.map_or("not measured", verdict);
        let _ = writeln!(self.0, "| {figure} | {measured} | {target} | {verdict} |");
    }
}

#[allow(clippy::cast_precision_loss)]
fn per(count: usize, items: usize) -> f64 {
    count as f64 / items as f64
}

/// All requests the three functions send for one bulk, per item.
fn function_requests(bulk: &BulkUsage) -> f64 {
    per(
        bulk.submit.total() + bulk.processor.total() + bulk.dispatcher.total(),
        1000,
    )
}

const BEGIN: &str =
    "<!-- figures: written by make bench; edits between these markers are lost -->\n";
const END: &str = "<!-- end of figures -->\n";

/// `existing` (the file as it was, if any) with its figures replaced by `figures`.
pub fn merge(existing: Option<&str>, figures: &str) -> String {
    let block = format!("{BEGIN}{figures}{END}");
    if let Some(text) = existing
        && let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END))
        && begin < end
    {
        return format!("{}{block}{}", &text[..begin], &text[end + END.len()..]);
    }
    format!("# Performance\n\n{block}")
}

/// The figures, as Markdown.
pub fn render(figures: &Figures) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Written by `make bench` ({}) on {}. Timings are medians of repeated \
         runs on this shared, noisy machine against DynamoDB Local and moto; counts and capacity \
         units are deterministic. How each figure is measured is at the end.\n",
        figures.when, figures.machine
    );
    targets::targets(&mut out, figures);
    sections::submit(&mut out, figures);
    sections::end_to_end(&mut out, figures);
    sections::per_item(&mut out, figures);
    sections::functions(&mut out, figures);
    sections::dispatch(&mut out, figures);
    if !figures.failures.is_empty() {
        let _ = writeln!(out, "## Sections that failed\n");
        for failure in &figures.failures {
            let _ = writeln!(out, "- {failure}");
        }
        out.push('\n');
    }
    out.push_str(sections::METHOD);
    out
}

/// The contention table of one run of the code (`label` says which: the markers carry it, so
/// a table for other code, measured apart, stays beside it).
pub fn render_contention(label: &str, bulks: usize, rows: &[ContentionRun]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Under DynamoDB's contention: {label}\n\n\
         One account, {bulks} bulks of 1000 valid items, the processor at N concurrent \
         invocations and the dispatcher at 8; every DynamoDB call goes through the contention \
         proxy (`make chaos --contention`'s model: a transaction holds what it writes for \
         5-15 ms, a partition key has 1,000 write and 3,000 read units a second). The proxy's \
         counts are the result. DynamoDB Local runs one transaction at a time, so times are \
         the emulator's and shown only relative to N = 1. Write units are the proxy's bill for \
         every write of every function, a cancelled transaction's writes billed as if they \
         were written. The bulks' partitions' share of the units, and the writes to the item \
         written most often, are counted by the proxy too.\n\n\
         | N | transaction attempts cancelled | batches deferred to SQS (messages) | items ending 500 | write units per created item | of which in the bulks' partitions | writes to the most-written item per 1000 created items (the item) | to the account's record | time to the last bulk_completed, vs N = 1 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let base = rows.first().map(|row| row.elapsed.as_secs_f64());
    for row in rows {
        #[allow(clippy::cast_precision_loss)]
        let share = 100.0 * row.cancelled as f64 / row.transactions.max(1) as f64;
        let relative = base.map_or(1.0, |base| row.elapsed.as_secs_f64() / base.max(1e-9));
        let _ = writeln!(
            out,
            "| {} | {} of {} ({share:.1} %) | {} ({}) | {} | {:.2} | {:.2} | {} | {:.1} | {relative:.2} |",
            row.processors,
            row.cancelled,
            row.transactions,
            row.deferred_batches,
            row.retried_messages,
            row.failed,
            row.units_per_created_item(),
            row.bulk_units_per_created_item(),
            hottest(row),
            row.account_writes_per_thousand(),
        );
    }
    out.push('\n');
    out
}

/// The most-written item's writes per 1000 created items, and its key.
fn hottest(row: &ContentionRun) -> String {
    match (&row.most_written, row.hottest_per_thousand()) {
        (Some((key, _)), Some(per_thousand)) => format!("{per_thousand:.1} (`{key}`)"),
        _ => "–".into(),
    }
}

/// `existing` with the contention table labelled `label` replaced by `table` (or added at
/// the end).
pub fn merge_contention(existing: Option<&str>, label: &str, table: &str) -> String {
    let begin = format!("<!-- contention: {label}; written by bench --only contention -->\n");
    let end = format!("<!-- end of contention: {label} -->\n");
    merge_block(existing, &begin, &end, table)
}

/// The noisy-neighbour section of one run of the code (`label` says which: the markers carry
/// it, so the section for other code, measured apart, stays beside it).
pub fn render_noisy(label: &str, when: &str, noisy: &Noisy) -> String {
    noisy::render(label, when, noisy)
}

/// `existing` with the noisy-neighbour section labelled `label` replaced by `section` (or
/// added at the end).
pub fn merge_noisy(existing: Option<&str>, label: &str, section: &str) -> String {
    let begin = format!("<!-- noisy neighbour: {label}; written by bench --noisy-only -->\n");
    let end = format!("<!-- end of noisy neighbour: {label} -->\n");
    merge_block(existing, &begin, &end, section)
}

/// `existing` with what lies between `begin` and `end` replaced by `text`, or `text` between
/// them added at the end.
fn merge_block(existing: Option<&str>, begin: &str, end: &str, text: &str) -> String {
    let block = format!("{begin}{text}{end}");
    let existing = existing.unwrap_or("# Performance\n\n");
    if let (Some(at), Some(to)) = (existing.find(begin), existing.find(end))
        && at < to
    {
        return format!("{}{block}{}", &existing[..at], &existing[to + end.len()..]);
    }
    format!("{}\n{block}", existing.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerun_replaces_its_own_noisy_section_and_keeps_the_others() {
        let first = merge_noisy(Some("# Performance\n\nhand-written\n"), "before", "old\n");
        let both = merge_noisy(Some(&first), "after", "fixed\n");
        let rerun = merge_noisy(Some(&both), "before", "new\n");

        assert!(rerun.starts_with("# Performance\n\nhand-written\n"));
        assert!(rerun.contains("new\n") && rerun.contains("fixed\n"));
        assert!(!rerun.contains("old\n"));
        assert!(
            rerun.find("new\n") < rerun.find("fixed\n"),
            "it stays where it was"
        );
    }
}

//! `docs/PERFORMANCE.md`: every figure beside its target, met or not, and the cost arithmetic.
//!
//! The figures go between two markers; what the file holds outside them (the reading of the
//! figures, written by people) is kept when a new run replaces them.

mod sections;
mod targets;

use std::fmt::Write;

use crate::{
    deliveries::Throughput,
    functions::Run,
    lean::Stacks,
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

//! The tables a run prints: what was injected, what the items became, and what held. The same
//! Markdown goes into docs/RELIABILITY.md.

use std::fmt::Write as _;

use crate::{
    contention::{Counts, KindCounts},
    proxy::{Fault, Tally},
    run::Report,
    timing::Timing,
    workload::NOISY,
};

impl Report {
    /// The report as Markdown tables.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let settings = &self.settings;
        let noisy = if settings.shape.noisy_bulks == 0 {
            String::new()
        } else {
            format!(
                ", and {} noisy accounts of {} bulks each (one endpoint accepts connections and \
                 never answers; one flaps every 30 s between 200s, 500s, 200s and silence)",
                NOISY.len(),
                settings.shape.noisy_bulks
            )
        };
        let _ = writeln!(
            out,
            "{} accounts, {} bulks of {} items{noisy} ({} items); {:.0} % of AWS calls faulted, \
             {:.0} % of invocations killed, event source concurrency {}, seed {}; settled in \
             {:.0} s.\n",
            settings.shape.accounts,
            settings.shape.bulks,
            settings.shape.items,
            self.items,
            settings.fault_rate * 100.0,
            settings.kill_rate * 100.0,
            settings.concurrency,
            settings.seed,
            self.elapsed.as_secs_f64(),
        );
        out.push_str("| injected into | calls |");
        for fault in Fault::ALL {
            let _ = write!(out, " {fault} |");
        }
        out.push_str(" faulted |\n|---|---:|");
        out.push_str(&"---:|".repeat(Fault::ALL.len() + 1));
        out.push('\n');
        for (name, tally) in [("DynamoDB", &self.dynamodb), ("SQS", &self.sqs)] {
            row(&mut out, name, tally);
        }
        out.push_str("\n| operation | calls | faulted |\n|---|---:|---:|\n");
        for tally in [&self.dynamodb, &self.sqs] {
            let mut operations: Vec<(&String, &u64)> = tally.calls.iter().collect();
            operations.sort_by_key(|(_, calls)| std::cmp::Reverse(**calls));
            for (operation, calls) in operations {
                let faulted: u64 = Fault::ALL
                    .iter()
                    .filter_map(|f| tally.injected.get(&(operation.clone(), *f)))
                    .sum();
                let name = operation.rsplit('.').next().unwrap_or(operation);
                let _ = writeln!(out, "| {name} | {calls} | {faulted} |");
            }
        }
        if let Some(counts) = &self.dynamodb.contention {
            contention(&mut out, &self.dynamodb, counts);
        }
        let kills = self.kills;
        let submissions = self.submissions;
        let _ = writeln!(
            out,
            "\n| invocations | killed mid-way | answer lost | submissions | 202 | 500, retried \
             | 409, waited | webhook deliveries | duplicates |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
             | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            kills.invocations,
            kills.midway,
            kills.lost_answers,
            submissions.attempts,
            submissions.accepted,
            submissions.failed,
            submissions.in_progress,
            self.deliveries,
            self.duplicate_deliveries,
        );
        if settings.shuffle {
            delivery(&mut out, self);
        }
        out.push_str("\n| items |");
        for outcome in self.outcomes.keys() {
            let _ = write!(out, " {outcome} |");
        }
        out.push_str("\n|---:|");
        out.push_str(&"---:|".repeat(self.outcomes.len()));
        let _ = write!(out, "\n| {} |", self.items);
        for count in self.outcomes.values() {
            let _ = write!(out, " {count} |");
        }
        out.push('\n');
        timing(&mut out, &self.timing);
        out.push_str("\n| invariant | held | what was seen |\n|---|---|---|\n");
        for check in &self.checks {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                check.invariant,
                if check.held { "yes" } else { "**NO**" },
                check.detail.replace('|', "\\|"),
            );
        }
        out
    }
}

/// How long bulks took, by their accounts' endpoints.
fn timing(out: &mut String, timing: &Timing) {
    let seconds = |d: Option<std::time::Duration>| {
        d.map_or_else(|| "–".to_owned(), |d| format!("{:.0} s", d.as_secs_f64()))
    };
    out.push_str(
        "\n| bulks of accounts whose endpoint | bulks | completed | median, 202 to bulk_completed \
         | slowest |\n|---|---:|---:|---:|---:|\n",
    );
    for group in &timing.groups {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            group.endpoint.describe(),
            group.bulks,
            group.took.len(),
            seconds(group.median()),
            seconds(group.slowest()),
        );
    }
    let _ = writeln!(
        out,
        "\nThe well-behaved accounts' last bulk_completed came {} after the run's first 202.",
        seconds(timing.well_behaved_done)
    );
}

/// What the contention model did, by key kind, and which calls it refused.
fn contention(out: &mut String, tally: &Tally, counts: &Counts) {
    let refused: Vec<String> = tally
        .refused
        .iter()
        .map(|(operation, n)| {
            let name = operation.rsplit('.').next().unwrap_or(operation);
            format!("{name} {n}")
        })
        .collect();
    let _ = writeln!(
        out,
        "\nDynamoDB's contention modelled (a committed transaction holds its items about 10 ms; \
         1,000 write and 3,000 read units a second per partition key): {} of {} transactions \
         cancelled; {} calls refused ({}).\n",
        counts.cancelled,
        counts.transactions,
        tally.total_refused(),
        if refused.is_empty() {
            "none".to_owned()
        } else {
            refused.join(", ")
        },
    );
    out.push_str(
        "| key kind | items held | conflicts in transactions | write conflicts | throttled in \
         transactions | writes throttled | reads throttled | write units | read units |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (kind, kind_counts) in &counts.by_kind {
        contention_row(out, kind, kind_counts);
    }
    contention_row(out, "all", &counts.total());
}

fn contention_row(out: &mut String, kind: &str, counts: &KindCounts) {
    let _ = writeln!(
        out,
        "| {kind} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} |",
        counts.held,
        counts.transaction_conflicts,
        counts.write_conflicts,
        counts.transaction_throttles,
        counts.write_throttles,
        counts.read_throttles,
        counts.write_units,
        counts.read_units,
    );
}

fn row(out: &mut String, name: &str, tally: &Tally) {
    let calls = tally.total_calls();
    let _ = write!(out, "| {name} | {calls} |");
    for fault in Fault::ALL {
        let _ = write!(out, " {} |", tally.injected(fault));
    }
    #[allow(clippy::cast_precision_loss)]
    let share = tally.total_injected() as f64 * 100.0 / calls.max(1) as f64;
    let _ = writeln!(out, " {share:.1} % |");
}

/// What the event source mapping's SQS-like delivery did, by function.
fn delivery(out: &mut String, report: &Report) {
    out.push_str(
        "\nDelivered as a standard SQS queue delivers: batches shuffled, messages held back \
         into later batches, some delivered twice. \"At once\" counts deliveries of a message \
         while another copy of it was in an invocation: those second copies, and the \
         visibility timeout's redeliveries of slow batches.\n\n\
         | function | batches | messages | shuffled | held back | delivered twice | at once |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (function, pumped) in &report.pumped {
        let _ = writeln!(
            out,
            "| {function} | {} | {} | {} | {} | {} | {} |",
            pumped.batches,
            pumped.received,
            pumped.shuffled,
            pumped.held,
            pumped.duplicates,
            pumped.concurrent,
        );
    }
}

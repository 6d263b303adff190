//! The targets table: each figure beside its target, met or not.

use std::fmt::Write;

use crate::{contention::ContentionRun, cost, lean::Stacks, stats::ms};

use super::{Figures, MB, Table, function_requests};

pub(super) fn targets(out: &mut String, figures: &Figures) {
    let mut table = Table::new();
    count_targets(&mut table, figures);
    build_targets(&mut table, figures);
    timing_targets(&mut table, figures);
    if let Some(noisy) = &figures.noisy {
        super::noisy::targets(&mut table, noisy);
    }
    if let Some(rows) = &figures.contention {
        contention_targets(&mut table, rows);
    }
    let _ = writeln!(out, "## Targets\n\n{}", table.0);
}

fn count_targets(table: &mut Table, figures: &Figures) {
    if let Some(submit) = &figures.submit {
        let total = submit.usage.total();
        table.row(
            "AWS requests of a 1000-item submit",
            total.to_string(),
            "≤ 150",
            Some(total <= 150),
        );
    }
    if let Some(per_item) = &figures.per_item {
        let created = &per_item.created;
        let requests = function_requests(created);
        table.row(
            "AWS requests per created item (submit + processor + dispatcher)",
            format!("{requests:.2}"),
            "≤ 4",
            Some(requests <= 4.0),
        );
        let item = cost::per_item(created);
        table.row(
            "DynamoDB write units per created item (all functions)",
            format!("{:.2}", item.write_units),
            "≤ 2.5",
            Some(item.write_units <= 2.5),
        );
        let failed = cost::per_item(&per_item.failed);
        table.row(
            "DynamoDB write units per failed item (all functions)",
            format!("{:.2}", failed.write_units),
            "≤ 1.5",
            Some(failed.write_units <= 1.5),
        );
        let reads = created.processor.read_units / 1000.0;
        table.row(
            "Processor read units per created item",
            format!("{reads:.3} (one read of the bulk per batch of 10)"),
            "only what a batch shares",
            Some(reads <= 0.2),
        );
        let dollars: f64 = cost::per_million(&item).iter().map(|line| line.3).sum();
        table.row(
            "Cost of one million created items at list prices",
            format!("${dollars:.2}"),
            "≤ $2.00",
            Some(dollars <= 2.0),
        );
    }
}

fn build_targets(table: &mut Table, figures: &Figures) {
    for (name, stacks) in &figures.stacks {
        table.row(
            &format!("`cargo tree -p {name}`: HTTP/TLS stacks, cryptography, SSO crates"),
            stacks.as_ref().map_or_else(
                || "–".into(),
                |s| {
                    let joined = |set: &std::collections::BTreeSet<String>| {
                        set.iter().cloned().collect::<Vec<_>>().join(", ")
                    };
                    format!(
                        "{}; {}; {}; SSO: {}",
                        joined(&s.hyper),
                        joined(&s.rustls),
                        joined(&s.crypto),
                        s.sso.len()
                    )
                },
            ),
            "one stack on one provider, no SSO",
            stacks.as_ref().map(Stacks::lean),
        );
    }
    for (name, size) in &figures.sizes {
        #[allow(clippy::cast_precision_loss)]
        let megabytes = size.map(|bytes| bytes as f64 / MB);
        table.row(
            &format!("{name}: stripped arm64 `bootstrap`"),
            megabytes.map_or_else(|| "not built".into(), |mb| format!("{mb:.2} MB")),
            "≤ 6.5 MB",
            megabytes.map(|mb| mb <= 6.5),
        );
    }
}

fn timing_targets(table: &mut Table, figures: &Figures) {
    if let Some(submit) = &figures.submit {
        let median = ms(submit.latency.median());
        table.row(
            "1000-item submit, median",
            format!("{median:.0} ms"),
            "≤ 300 ms",
            Some(median <= 300.0),
        );
    }
    if let Some(one) = &figures.one_bulk {
        let seconds = one.elapsed.as_secs_f64();
        table.row(
            "One 1000-item bulk, submit to `bulk_completed`",
            format!("{seconds:.1} s"),
            "≤ 15 s",
            Some(seconds <= 15.0),
        );
    }
    if let Some(init) = &figures.sdk_init {
        let median = ms(init.median());
        table.row(
            "SDK config and clients at init, median (roots in one bundle, as on Lambda)",
            format!("{median:.2} ms"),
            "≤ 5 ms",
            Some(median <= 5.0),
        );
    }
    if let Some(dispatch) = &figures.dispatch {
        let rate = dispatch.per_second();
        table.row(
            "Dispatcher deliveries a second, one core",
            format!("{rate:.0}"),
            "≥ 5,000",
            Some(rate >= 5000.0),
        );
    }
    if let Some(runs) = &figures.functions {
        for run in runs {
            #[allow(clippy::cast_precision_loss)]
            let megabytes = run.peak_rss_kib as f64 * 1024.0 / MB;
            table.row(
                &format!("{}: peak RSS under a 1000-item bulk", run.name),
                format!("{megabytes:.1} MB"),
                "≤ 64 MB",
                Some(megabytes <= 64.0),
            );
        }
    }
}

/// The lean write path's targets under the strict model, from its busiest run.
fn contention_targets(table: &mut Table, rows: &[ContentionRun]) {
    let Some(row) = rows.iter().max_by_key(|row| row.processors) else {
        return;
    };
    #[allow(clippy::cast_precision_loss)]
    let share = 100.0 * row.cancelled as f64 / row.transactions.max(1) as f64;
    table.row(
        &format!(
            "contention mode, one account, {} items, N = {} processors: attempts cancelled / batches deferred / 500s",
            row.items, row.processors
        ),
        format!(
            "{share:.1} % / {} / {}",
            row.deferred_batches, row.failed
        ),
        "≤ 2 % / 0 / 0",
        Some(share <= 2.0 && row.deferred_batches == 0 && row.failed == 0),
    );
    let hottest = row.hottest_per_thousand().unwrap_or(0.0);
    table.row(
        "Writes to the most-written item per 1000 created items of one account",
        format!(
            "{hottest:.1} (`{}`); the account's record: {:.1}",
            row.most_written
                .as_ref()
                .map_or("–", |(key, _)| key.as_str()),
            row.account_writes_per_thousand()
        ),
        "≤ 10",
        Some(hottest <= 10.0),
    );
    let bulk = row.bulk_units_per_created_item();
    table.row(
        "bulk partition write units per created item",
        format!("{bulk:.2}"),
        "≤ 1.5",
        Some(bulk <= 1.5),
    );
}

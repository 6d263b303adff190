//! The sections after the targets: each scenario's figures in full, the cost arithmetic, and
//! how each figure is measured.

use std::fmt::Write;

use crate::{cost, harness::Usage, scenarios::BulkUsage, stats::ms};

use super::{Figures, MB, function_requests, per};

pub(super) fn submit(out: &mut String, figures: &Figures) {
    let Some(submit) = &figures.submit else {
        return;
    };
    let _ = writeln!(
        out,
        "## Submit\n\nA {}-byte body of 1000 items (each a contact radar with a 760-character \
         custom field), POSTed {} times to a warm submit over local HTTP: median **{:.0} ms**, \
         p95 {:.0} ms. Each submission sends {} AWS requests: {}. DynamoDB write units: {:.0}.\n",
        submit.body_bytes,
        submit.latency.count(),
        ms(submit.latency.median()),
        ms(submit.latency.p95()),
        submit.usage.total(),
        operations(&submit.usage),
        submit.usage.write_units,
    );
}

fn operations(usage: &Usage) -> String {
    usage
        .requests
        .iter()
        .map(|(operation, count)| format!("{count} {operation}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn end_to_end(out: &mut String, figures: &Figures) {
    let _ = writeln!(
        out,
        "## End to end\n\nBulks of 1000 ~1 KB items submitted through the API; the event \
         source mapping runs {} workers on each queue (batches of 10), the processor and the \
         dispatcher in this process, webhooks to a local receiver. Timed from the first \
         submit to the receiver's last `bulk_completed`.\n\n\
         | run | elapsed | items/s | submitting | processor busy (invocations) | dispatcher busy (invocations) | webhooks delivered |\n\
         |---|---|---|---|---|---|---|",
        figures.concurrency
    );
    for run in [&figures.one_bulk, &figures.many_bulks] {
        let Some(run) = run else {
            let _ = writeln!(out, "| – | failed | | | | | |");
            continue;
        };
        let name = format!("{} × 1000 items", run.bulks);
        let _ = writeln!(
            out,
            "| {name} | {:.1} s | {:.0} | {:.2} s | {:.1} s ({}) | {:.1} s ({}) | {} |",
            run.elapsed.as_secs_f64(),
            run.items_per_second(),
            run.submitting.as_secs_f64(),
            run.processor.time.as_secs_f64(),
            run.processor.invocations,
            run.dispatcher.time.as_secs_f64(),
            run.dispatcher.invocations,
            run.deliveries,
        );
    }
    out.push('\n');
}

fn usage_row(out: &mut String, name: &str, usage: &Usage, extra_write: f64, count: usize) {
    #[allow(clippy::cast_precision_loss)]
    let count_f = count as f64;
    let _ = writeln!(
        out,
        "| {name} | {:.2} | {:.2} | {:.3} | {:.2} | {} |",
        per(usage.total(), count),
        (usage.write_units + extra_write) / count_f,
        usage.read_units / count_f,
        per(usage.of_service("SQS"), count),
        operations(usage),
    );
}

pub(super) fn per_item(out: &mut String, figures: &Figures) {
    let Some(per_item) = &figures.per_item else {
        return;
    };
    let (created, failed) = (&per_item.created, &per_item.failed);
    let _ = writeln!(
        out,
        "## Per item\n\nOne bulk of 1000 typical items (a company radar with a CRM id) that are \
         all created, then one of 1000 that all fail validation (400), each function metered \
         apart. DynamoDB units are what DynamoDB Local reports through \
         `ReturnConsumedCapacity`, except transactions, which it under-reports \
         (it returns only a transaction's last write): those (a prepaid bulk's acceptance and \
         refund, a metered bulk's creating transactions) are priced from the size of the \
         records they write, twice each as DynamoDB bills transactional writes ({:.0} units \
         for this bulk).\n\n\
         | per | AWS requests | DynamoDB write units | read units | SQS requests | requests by operation (whole bulk) |\n\
         |---|---|---|---|---|---|",
        created.transaction_write_units
    );
    usage_row(out, "submitted item (submit)", &created.submit, 0.0, 1000);
    usage_row(
        out,
        "created item (processor)",
        &created.processor,
        created.transaction_write_units,
        1000,
    );
    usage_row(out, "failed item (processor)", &failed.processor, 0.0, 1000);
    usage_row(
        out,
        "delivered webhook (dispatcher)",
        &created.dispatcher,
        0.0,
        created.deliveries.max(1),
    );
    let _ = writeln!(
        out,
        "\nAll three functions together send {:.2} AWS requests per created item and {:.2} per \
         failed item; Lambda's pollers add one ReceiveMessage and one DeleteMessageBatch per \
         batch of 10 on each queue.\n",
        function_requests(created),
        function_requests(failed)
    );
    for (name, bulk) in [("created", created), ("failed", failed)] {
        cost_section(out, name, bulk);
    }
}

fn cost_section(out: &mut String, name: &str, bulk: &BulkUsage) {
    let item = cost::per_item(bulk);
    let lines = cost::per_million(&item);
    let total: f64 = lines.iter().map(|line| line.3).sum();
    let _ = writeln!(
        out,
        "### One million {name} items: ${total:.2}\n\n\
         us-east-1 on-demand list prices as of {}: DynamoDB $0.625 per million write request \
         units and $0.125 per million read request units; SQS $0.40 per million requests \
         (each 64 KB of payload a request); Lambda arm64 $0.20 per million requests and \
         $0.0000133334 per GB-second, at the template's 256 MB. Lambda time is the handlers' \
         busy time measured here against the emulators (slower than DynamoDB and SQS, so an \
         overestimate); API Gateway ($1.00 per million requests, one per 1000 items) adds \
         $0.001.\n\n| | per item | per million items | price | USD |\n|---|---|---|---|---|",
        cost::PRICES_AS_OF
    );
    for (what, quantity, price, dollars) in &lines {
        let _ = writeln!(
            out,
            "| {what} | {:.4} | {quantity:.0} | ${:.7} | ${dollars:.3} |",
            quantity / 1e6,
            price
        );
    }
    let _ = writeln!(out, "| **total** | | | | **${total:.2}** |\n");
}

pub(super) fn functions(out: &mut String, figures: &Figures) {
    let _ = writeln!(
        out,
        "## Functions\n\n| function | arm64 `bootstrap` | init (start to first poll) | start to first answer | peak RSS |\n|---|---|---|---|---|"
    );
    let runs = figures.functions.clone().unwrap_or_default();
    for (name, size) in &figures.sizes {
        let run = runs.iter().find(|run| run.name == *name);
        #[allow(clippy::cast_precision_loss)]
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} |",
            size.map_or_else(
                || "not built".into(),
                |b| format!("{:.2} MB", b as f64 / MB)
            ),
            run.map_or_else(|| "–".into(), |r| format!("{:.1} ms", ms(r.init))),
            run.map_or_else(|| "–".into(), |r| format!("{:.0} ms", ms(r.first_answer))),
            run.map_or_else(
                || "–".into(),
                |r| format!("{:.1} MB", r.peak_rss_kib as f64 * 1024.0 / MB)
            ),
        );
    }
    if let (Some(init), Some(bundle)) = (&figures.sdk_init, figures.sdk_init_bundle) {
        let _ = writeln!(
            out,
            "\nSDK configuration and both clients, in a fresh process each time ({} runs), the \
             trusted roots read from one bundle file (`{bundle}`) as on Lambda's \
             `provided.al2023`: median {:.2} ms, p95 {:.2} ms.",
            init.count(),
            ms(init.median()),
            ms(init.p95())
        );
    }
    if let Some(init) = &figures.sdk_init_inherited {
        let _ = writeln!(
            out,
            "\nThe same with this machine's environment (`SSL_CERT_DIR={}`, where the SDK opens \
             every certificate file): median {:.2} ms, p95 {:.2} ms.",
            std::env::var("SSL_CERT_DIR").unwrap_or_else(|_| "unset".into()),
            ms(init.median()),
            ms(init.p95())
        );
    }
    out.push('\n');
}

pub(super) fn dispatch(out: &mut String, figures: &Figures) {
    let Some(dispatch) = &figures.dispatch else {
        return;
    };
    let _ = writeln!(
        out,
        "## Dispatcher\n\n{} signed deliveries of a {}-byte `radar_created` event, 10 in \
         flight, on one single-threaded runtime, to a keep-alive receiver on another thread: \
         {:.2} s, **{:.0} deliveries a second**.\n",
        dispatch.deliveries,
        dispatch.body_bytes,
        dispatch.elapsed.as_secs_f64(),
        dispatch.per_second()
    );
}

pub(super) const METHOD: &str = "## How it is measured\n\n\
- `make bench` builds the four functions in release mode for this machine (init, memory) and \
  for arm64 with `cargo lambda build --release --arm64` (sizes), then runs `tools/bench` under \
  `infra/local/services.sh run`, so against fresh DynamoDB Local and moto.\n\
- Submit, end to end and per item: the functions' own handlers in the bench's process \
  (`devstack::local`), the API over local HTTP, the event source mapping of `devstack::bridge`, \
  each function with AWS clients of its own that count every request (`RequestCounter`) and \
  ask DynamoDB for `ReturnConsumedCapacity` (`CapacityMeter`, an SDK interceptor in \
  `tests/support`: production code never asks for it).\n\
- Functions: each release binary as a process, given events by a minimal Lambda Runtime API \
  in the bench (`AWS_LAMBDA_RUNTIME_API`); init is from process start to its first request \
  for an event; peak RSS is `VmHWM` from `/proc` after the bulk.\n\
- Dispatcher: `dispatcher::sender::Sender` and `signature::sign` on a current-thread runtime.\n\
- Noisy neighbour: account B's 100-item bulk alone, then right after account A's 1000-item \
  submit returns, each run on a fresh stack with the template's event source mappings at their \
  own `MaximumConcurrency` (`Options::as_template`) and the dispatcher's own timeout and \
  schedule; A's endpoint is a `chaos::endpoint` that counts its requests. `make bench-noisy` \
  runs only these, on a debug build, and writes their section below.\n\
- The counts that are targets are also asserted by tests that `make test` runs \
  (`a_1000_item_submission_costs_at_most_150_aws_requests`, \
  `a_created_item_costs_the_processor_its_two_writes_and_a_share_of_its_batch`, \
  `a_created_item_reads_only_through_its_batch_and_writes_its_two_records_and_little_else`, \
  `tools/bench/tests/lean.rs`).\n";

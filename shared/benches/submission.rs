//! How long submit spends turning the largest accepted body (1000 items, close to 1 MB) into a
//! `Submission`, and the process's peak memory while doing it. Run with `make bench`.
//!
//! A plain bench binary: it reports the median and the 95th percentile of many runs, and
//! asserts nothing, because the machine it runs on may be busy.

use std::{hint::black_box, time::Instant};

use serde_json::{Value, json};
use shared::{submission::Submission, webhook_url::WebhookPolicy};

const RUNS: usize = 200;

fn largest_body() -> String {
    // ~1000 bytes an item: the most a 1 MB body holds at 1000 items.
    let radars: Vec<Value> = (0..1000)
        .map(|i| {
            json!({
                "radar_type": "contact_job_changes",
                "domain": format!("company-{i}.example.com"),
                "profile_url": format!("https://www.linkedin.com/in/person-{i}"),
                "email": format!("person.{i}@company-{i}.example.com"),
                "custom_fields": {"crm_account_id": format!("acc_{i:06}"), "note": "x".repeat(780)}
            })
        })
        .collect();
    json!({"webhook_url": "https://hooks.example.com/radar", "radars": radars}).to_string()
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let body = largest_body();
    assert!(
        body.len() <= shared::submission::MAX_BODY_BYTES,
        "the body must be accepted"
    );
    let before = peak_rss_kib();
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let submission = Submission::parse(black_box(body.as_bytes()), WebhookPolicy::default());
        times.push(start.elapsed());
        assert_eq!(submission.expect("a valid body").items.len(), 1000);
    }
    times.sort();
    println!(
        "Submission::parse, 1000 items, {} bytes, {RUNS} runs",
        body.len()
    );
    println!(
        "  median {:?}, p95 {:?}",
        times[RUNS / 2],
        times[RUNS * 95 / 100]
    );
    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        println!("  peak RSS {after} KiB ({before} KiB before parsing)");
    }
}

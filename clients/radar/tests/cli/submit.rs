//! `bulk submit`, `watch`, `results` and `retry` on a file of 2500 rows.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Stack, bulks_in, read_results};

/// A results file's row: column to cell.
type Row = BTreeMap<String, String>;

/// What row `i` of the file is, and so what the API must answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Planted {
    Valid,
    /// Not a domain: a 400 on `domain`.
    Invalid,
    /// The same company as the row before it: one of the two is a 409.
    Duplicate,
    /// A company the account already watches: a 409 naming that radar.
    Existing(usize),
}

fn planted(i: usize) -> Planted {
    match i % 10 {
        _ if i % 100 == 50 => Planted::Existing(i / 100),
        3 => Planted::Invalid,
        7 => Planted::Duplicate,
        _ => Planted::Valid,
    }
}

fn domain(i: usize) -> String {
    match planted(i) {
        Planted::Valid => format!("d{i}.example.com"),
        Planted::Invalid => format!("not a domain {i}"),
        Planted::Duplicate => format!("d{}.example.com", i - 1),
        Planted::Existing(k) => format!("taken{k}.example.com"),
    }
}

#[tokio::test]
async fn a_csv_of_2500_rows_is_three_bulks_whose_results_match_the_api_and_a_rerun_replays_them() {
    let stack = Stack::up(10_000).await;
    let existing = seed_existing(&stack).await;
    let file = write_file(&stack);
    let out = stack.path("out.csv");
    let submit = stack.submit_args(&file, &out);

    let (lines, answer) = stack.radar(&submit).await;

    answer.unwrap();
    let state = stack.path("out.state.json");
    let bulks = bulks_in(&state);
    let sizes: Vec<usize> = bulks.iter().map(|(_, size)| *size).collect();
    assert_eq!(sizes, [1000, 1000, 500], "{}", lines.text());
    assert_eq!(lines.matching(" accepted: ").len(), 3, "{}", lines.text());
    for (bulk_id, _) in &bulks {
        assert_eq!(
            lines
                .matching(&format!("bulk {bulk_id}: completed: "))
                .len(),
            1,
            "the plain progress ends each bulk with one line"
        );
    }
    let results = read_results(&out);
    check_results(&stack, &bulks, &results, &existing).await;
    assert_eq!(
        lines
            .matching("3 bulk(s), 2500 items: 1975 created, 525 failed (250 × 400, 275 × 409)")
            .len(),
        1,
        "{}",
        lines.text()
    );
    // `bulk results --failed` of every bulk in the state file: the 525 failures, rows named.
    let failed = stack.path("failed.csv");
    let (_, answer) = stack
        .radar(&[
            "bulk",
            "results",
            "--out",
            failed.to_str().unwrap(),
            "--failed",
            "--state",
            state.to_str().unwrap(),
        ])
        .await;
    answer.unwrap();
    let failed = read_results(&failed);
    assert_eq!(failed.len(), 525);
    assert!(
        failed
            .iter()
            .all(|row| row["outcome"] == "failed" && !row["row"].is_empty())
    );
    let account = stack.get("/v1/account").await;
    let balance = account["data"]["balance"].clone();
    assert_eq!(account["data"]["radars"]["active"], 1975 + 25);

    // The same command again: every bulk replays its first 202, and nothing is created.
    let mut rerun = submit[..5].to_vec();
    rerun.extend(["--state", state.to_str().unwrap()]);
    let (again, answer) = stack.radar(&rerun).await;
    answer.unwrap();
    assert_eq!(
        again.matching(" accepted earlier: ").len(),
        3,
        "{}",
        again.text()
    );
    assert_eq!(bulks_in(&state), bulks);
    let account = stack.get("/v1/account").await;
    assert_eq!(account["data"]["balance"], balance);
    assert_eq!(account["data"]["radars"]["active"], 1975 + 25);

    retry_the_409s(&stack, &bulks, &state, &results).await;
}

/// 25 radars the file's rows will conflict with; their ids.
async fn seed_existing(stack: &Stack) -> Vec<String> {
    let mut existing = Vec::new();
    for k in 0..25 {
        let (status, created) = stack
            .post(
                "/v1/radars/companies",
                &json!({"radar_type": "company_job_openings", "domain": format!("taken{k}.example.com")}),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        existing.push(created["data"]["radar_id"].as_str().unwrap().to_owned());
    }
    existing
}

/// The 2500-row CSV, each row's `crm_id` naming its position.
fn write_file(stack: &Stack) -> PathBuf {
    let mut csv = String::from("radar_type,domain,countries,custom_fields.crm_id\n");
    for i in 0..2500 {
        writeln!(csv, "company_job_openings,{},,row-{i}", domain(i)).unwrap();
    }
    let file = stack.path("radars.csv");
    std::fs::write(&file, &csv).unwrap();
    file
}

/// Every results row is its input row, as the API decided it and as the file planted it.
async fn check_results(
    stack: &Stack,
    bulks: &[(Uuid, usize)],
    results: &[Row],
    existing: &[String],
) {
    assert_eq!(results.len(), 2500);
    let mut from_api = BTreeMap::new();
    for (bulk_id, _) in bulks {
        let polled = stack.get(&format!("/v1/radars/bulk/{bulk_id}")).await;
        assert_eq!(polled["status"], "completed");
        for event in polled["radars"].as_array().unwrap() {
            from_api.insert(
                (bulk_id.to_string(), event["item_index"].to_string()),
                event.clone(),
            );
        }
    }
    let mut duplicates = BTreeMap::<String, Vec<String>>::new();
    for row in results {
        let i: usize = row["custom_fields.crm_id"]
            .strip_prefix("row-")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(row["row"], (i + 2).to_string(), "the input line of row-{i}");
        let event = &from_api[&(row["bulk_id"].clone(), row["item_index"].clone())];
        as_the_api_says(row, event, i);
        match planted(i) {
            Planted::Valid if i % 10 != 6 => assert_eq!(row["outcome"], "created", "row-{i}"),
            Planted::Invalid => {
                assert_eq!(
                    (row["code"].as_str(), row["field"].as_str()),
                    ("400", "domain")
                );
            }
            Planted::Existing(k) => {
                assert_eq!(row["code"], "409", "row-{i}");
                assert_eq!(row["conflicting_radar_id"], existing[k]);
            }
            Planted::Valid | Planted::Duplicate => duplicates
                .entry(domain(i))
                .or_default()
                .push(row["outcome"].clone()),
        }
    }
    for (domain, mut outcomes) in duplicates {
        outcomes.sort();
        assert_eq!(
            outcomes,
            ["created", "failed"],
            "{domain}: one radar, one 409"
        );
    }
    let conflicts = results.iter().filter(|row| row["code"] == "409").count();
    assert_eq!(conflicts, 250 + 25);
}

fn as_the_api_says(row: &Row, event: &Value, i: usize) {
    assert_eq!(event["custom_fields"]["crm_id"], format!("row-{i}"));
    if event["update_type"] == "radar_created" {
        assert_eq!(row["outcome"], "created");
        assert_eq!(row["radar_id"], event["data"]["radar_id"].as_str().unwrap());
    } else {
        assert_eq!(row["outcome"], "failed");
        assert_eq!(row["code"], event["code"].to_string());
    }
}

/// Retry: no 500s, so nothing; then the 409s, which are sent again, exactly those rows.
async fn retry_the_409s(stack: &Stack, bulks: &[(Uuid, usize)], state: &Path, results: &[Row]) {
    let ids: Vec<String> = bulks.iter().map(|(id, _)| id.to_string()).collect();
    let mut retry = vec!["bulk", "retry"];
    retry.extend(ids.iter().map(String::as_str));
    retry.extend(["--state", state.to_str().unwrap()]);
    let (nothing, answer) = stack.radar(&retry).await;
    answer.unwrap();
    assert_eq!(nothing.matching("nothing to retry").len(), 1);

    let retried_out = stack.path("retried.csv");
    retry.extend([
        "--codes",
        "409",
        "--results",
        retried_out.to_str().unwrap(),
        "--interval",
        "0.5",
    ]);
    let (retried, answer) = stack.radar(&retry).await;
    answer.unwrap();
    assert_eq!(
        retried.matching("retrying 275 items").len(),
        1,
        "{}",
        retried.text()
    );
    let again = read_results(&retried_out);
    let mut sent: Vec<&str> = again
        .iter()
        .map(|row| row["custom_fields.crm_id"].as_str())
        .collect();
    let mut wanted: Vec<&str> = results
        .iter()
        .filter(|row| row["code"] == "409")
        .map(|row| row["custom_fields.crm_id"].as_str())
        .collect();
    sent.sort_unstable();
    wanted.sort_unstable();
    assert_eq!(sent, wanted, "exactly the 409s, with their custom fields");
    assert!(
        again.iter().all(|row| row["code"] == "409"),
        "they still conflict"
    );
    assert!(
        again.iter().all(|row| !row["row"].is_empty()),
        "rows named from the state file"
    );
}

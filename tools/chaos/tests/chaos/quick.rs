//! A small chaos run: the same code as `make chaos` (faults, kills, SQS's own delivery order and
//! DynamoDB's contention), at a fortieth of its load.

use std::time::Duration;

use chaos::{
    proxy::Fault,
    run::{self, Emulators, Settings},
    workload::Shape,
};
use test_support::Endpoints;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_run_under_faults_and_kills_keeps_every_invariant() {
    let endpoints = Endpoints::from_env();
    let settings = Settings {
        shape: Shape {
            accounts: 3,
            bulks: 4,
            items: 60,
            // Without the silent and flapping accounts: their deliveries spend the whole retry
            // schedule (nine attempts over about a minute), and then their summaries' too, which
            // would double this run's two minutes. `make chaos` has them.
            noisy_bulks: 0,
        },
        fault_rate: 0.15,
        kill_rate: 0.15,
        shuffle: true,
        concurrency: 4,
        // It settles in 140-170 s on 2 idle cores. A straggler that went through the dead-letter
        // queue, on a loaded machine, has taken past 240 s; a stuck item still fails here.
        patience: Duration::from_secs(420),
        seed: fastrand::u64(..),
        backlog: 10_000,
        progress: false,
        contention: true,
    };

    let report = run::run(
        settings,
        &Emulators {
            dynamodb: endpoints.dynamodb,
            sqs: endpoints.sqs,
        },
    )
    .await
    .expect("the run sets up and is checked");

    let table = report.markdown();
    println!("{table}");
    assert!(report.held(), "an invariant was violated:\n{table}");
    // The run really was hostile: every kind of fault met the functions, and invocations died.
    for fault in Fault::ALL {
        assert!(
            report.dynamodb.injected(fault) + report.sqs.injected(fault) > 0,
            "no {fault} was injected:\n{table}"
        );
    }
    assert!(
        report.kills.midway + report.kills.lost_answers > 0,
        "{table}"
    );
    assert_eq!(report.outcomes.values().sum::<u64>(), 240);
    // Delivered as SQS delivers: out of order and held back (1 % duplicates are too few in a
    // run this small to count on).
    let processor = report.pumped["processor"];
    assert!(processor.shuffled > 0 && processor.held > 0, "{table}");
    // And as strict as DynamoDB: the contention model judged every creating transaction.
    let contention = report
        .dynamodb
        .contention
        .as_ref()
        .expect("contention was on");
    assert!(contention.transactions > 0, "{table}");
    assert!(
        report.outcomes.get("400").copied().unwrap_or(0) > 0,
        "{table}"
    );
    assert!(
        report.outcomes.get("created").copied().unwrap_or(0) > 100,
        "{table}"
    );
}

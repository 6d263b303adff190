//! The model's decisions, on calls built by hand and a clock the tests move.

use serde_json::{Value, json};

use super::*;

const HOLD: Duration = Duration::from_millis(10);

fn key(pk: &str, sk: &str) -> ItemKey {
    ItemKey {
        table: "t".into(),
        pk: pk.into(),
        sk: sk.into(),
    }
}

fn put(pk: &str, sk: &str, units: f64) -> request::Action {
    request::Action {
        key: key(pk, sk),
        writes: true,
        units,
    }
}

fn transaction(actions: Vec<request::Action>, token: &str) -> Call {
    Call::Transaction {
        actions,
        token: Some(token.into()),
    }
}

fn model() -> Model {
    Model::new(&Contention::default())
}

/// The codes of a refusal's cancellation reasons.
fn codes(verdict: &Verdict) -> Vec<String> {
    let Verdict::Refuse(body) = verdict else {
        panic!("refused: {verdict:?}");
    };
    body["CancellationReasons"]
        .as_array()
        .expect("cancellation reasons")
        .iter()
        .map(|reason| reason["Code"].as_str().unwrap().to_owned())
        .collect()
}

fn exception(verdict: &Verdict) -> String {
    let Verdict::Refuse(body) = verdict else {
        panic!("refused: {verdict:?}");
    };
    body["__type"]
        .as_str()
        .unwrap()
        .rsplit('#')
        .next()
        .unwrap()
        .to_owned()
}

fn pass(verdict: Verdict) -> Pending {
    match verdict {
        Verdict::Pass(pending) => pending,
        Verdict::Refuse(body) => panic!("let through: {body}"),
    }
}

#[test]
fn a_transaction_on_a_held_item_is_cancelled_at_that_items_position() {
    let now = Instant::now();
    let mut model = model();
    let first = transaction(
        vec![
            put("BULK#1", "ITEM#0", 2.0),
            put("ACCOUNT#a", "ACCOUNT", 2.0),
        ],
        "one",
    );
    let second = transaction(
        vec![
            put("BULK#2", "ITEM#0", 2.0),
            put("ACCOUNT#a", "ACCOUNT", 2.0),
            put("BULK#2", "ITEM#1", 2.0),
        ],
        "two",
    );

    let pending = pass(model.admit(&first, now));
    // While the first is with the emulator, and for the window after it committed.
    assert_eq!(
        codes(&model.admit(&second, now)),
        ["None", "TransactionConflict", "None"]
    );
    model.settle(pending.hear(true, b"{}"), now, HOLD);
    assert_eq!(
        codes(&model.admit(&second, now + HOLD / 2)),
        ["None", "TransactionConflict", "None"]
    );
    pass(model.admit(&second, now + HOLD));

    let counts = model.counts();
    assert_eq!((counts.transactions, counts.cancelled), (4, 2));
    assert_eq!(counts.by_kind["ACCOUNT"].transaction_conflicts, 2);
    assert_eq!(counts.by_kind["ACCOUNT"].held, 1);
    assert_eq!(counts.by_kind["BULK"].transaction_conflicts, 0);
}

#[test]
fn a_transaction_the_emulator_refused_holds_nothing() {
    let now = Instant::now();
    let mut model = model();
    let first = transaction(vec![put("ACCOUNT#a", "ACCOUNT", 2.0)], "one");
    let second = transaction(vec![put("ACCOUNT#a", "ACCOUNT", 2.0)], "two");

    let pending = pass(model.admit(&first, now));
    model.settle(pending.hear(false, b"{}"), now, HOLD);

    pass(model.admit(&second, now));
}

#[test]
fn a_retry_of_a_committed_transaction_is_not_its_own_conflict() {
    let now = Instant::now();
    let mut model = model();
    let call = transaction(vec![put("ACCOUNT#a", "ACCOUNT", 2.0)], "same");

    let pending = pass(model.admit(&call, now));
    model.settle(pending.hear(true, b"{}"), now, HOLD);

    pass(model.admit(&call, now));
}

#[test]
fn a_single_write_on_a_held_item_conflicts_and_a_read_does_not() {
    let now = Instant::now();
    let mut model = model();
    let pending = pass(model.admit(
        &transaction(vec![put("ACCOUNT#a", "ACCOUNT", 2.0)], "one"),
        now,
    ));
    model.settle(pending.hear(true, b"{}"), now, HOLD);
    let write = |sk: &str| Call::Write {
        key: key("ACCOUNT#a", sk),
        units: 1.0,
    };
    let read = Call::Read {
        partition: key("ACCOUNT#a", "ACCOUNT").partition(),
        consistent: true,
    };

    assert_eq!(
        exception(&model.admit(&write("ACCOUNT"), now)),
        "TransactionConflictException"
    );
    pass(model.admit(&write("OTHER"), now));
    pass(model.admit(&read, now));
    pass(model.admit(&write("ACCOUNT"), now + HOLD));
    assert_eq!(model.counts().by_kind["ACCOUNT"].write_conflicts, 1);
}

#[test]
fn writes_beyond_a_partitions_units_are_throttled_and_not_charged() {
    let now = Instant::now();
    let mut model = model();
    let write = |pk: &str, units: f64| Call::Write {
        key: key(pk, "x"),
        units,
    };
    for _ in 0..4 {
        pass(model.admit(&write("BULK#hot", 250.0), now));
    }

    assert_eq!(
        exception(&model.admit(&write("BULK#hot", 1.0), now)),
        "ProvisionedThroughputExceededException"
    );
    pass(model.admit(&write("BULK#cold", 1.0), now));
    // A tenth of a second later the partition has 100 units again.
    pass(model.admit(&write("BULK#hot", 100.0), now + Duration::from_millis(100)));
    let bulk = model.counts().by_kind["BULK"];
    assert_eq!((bulk.write_throttles, bulk.write_units), (1, 1101.0));
}

#[test]
fn a_transaction_beyond_a_partitions_units_is_throttled_at_that_partitions_actions() {
    let now = Instant::now();
    let mut model = model();
    pass(model.admit(
        &Call::Write {
            key: key("BULK#hot", "x"),
            units: 999.0,
        },
        now,
    ));

    let call = transaction(
        vec![
            put("BULK#hot", "ITEM#0", 2.0),
            put("ACCOUNT#a", "ACCOUNT", 2.0),
            put("BULK#hot", "ITEM#1", 2.0),
        ],
        "one",
    );

    assert_eq!(
        codes(&model.admit(&call, now)),
        ["ThrottlingError", "None", "ThrottlingError"]
    );
    let counts = model.counts();
    assert_eq!(counts.by_kind["BULK"].transaction_throttles, 2);
    assert_eq!(
        counts.by_kind.get("ACCOUNT").map(|c| c.write_units),
        Some(0.0)
    );
}

#[test]
fn a_held_item_in_a_throttled_partition_is_reported_as_held() {
    let now = Instant::now();
    let mut model = model();
    let pending = pass(model.admit(
        &transaction(vec![put("BULK#hot", "ITEM#0", 2.0)], "one"),
        now,
    ));
    model.settle(pending.hear(true, b"{}"), now, HOLD);
    pass(model.admit(
        &Call::Write {
            key: key("BULK#hot", "x"),
            units: 998.0,
        },
        now,
    ));

    let call = transaction(
        vec![
            put("BULK#hot", "ITEM#0", 2.0),
            put("BULK#hot", "ITEM#1", 2.0),
        ],
        "two",
    );

    assert_eq!(
        codes(&model.admit(&call, now)),
        ["TransactionConflict", "ThrottlingError"]
    );
}

fn item(pk: &str, bytes: usize) -> Value {
    json!({"pk": {"S": pk}, "sk": {"S": "s"}, "v": {"S": "x".repeat(bytes)}})
}

#[test]
fn reads_are_charged_what_they_read_and_refused_while_in_debt() {
    let now = Instant::now();
    let mut model = model();
    let bulk = key("BULK#1", "BULK").partition();
    let read = |consistent| Call::Read {
        partition: bulk.clone(),
        consistent,
    };

    // A page of three 2 KB items, read strongly: 6 KB, two units.
    let page = json!({"Items": [item("BULK#1", 2000), item("BULK#1", 2000), item("BULK#1", 2000)]});
    let pending = pass(model.admit(&read(true), now));
    model.settle(pending.hear(true, page.to_string().as_bytes()), now, HOLD);
    // Other reads spend the rest of the partition's second while a 100 KB item is read,
    // eventually consistent (26 units, halved): the partition goes into debt.
    let pending = pass(model.admit(&read(false), now));
    model.spend_reads(&bulk, 2998.0, now);
    let big = json!({"Item": item("BULK#1", 100 * 1024)});
    model.settle(pending.hear(true, big.to_string().as_bytes()), now, HOLD);

    assert_eq!(
        exception(&model.admit(&read(false), now)),
        "ProvisionedThroughputExceededException"
    );
    let counts = model.counts().by_kind["BULK"];
    assert_eq!(counts.read_units, 2.0 + 2998.0 + 13.0);
    assert_eq!(counts.read_throttles, 1);
}

#[test]
fn a_batch_read_charges_each_item_to_its_own_partition() {
    let now = Instant::now();
    let mut model = model();
    let call = Call::BatchRead {
        consistent: [("t".to_owned(), true)].into(),
    };
    let answer = json!({"Responses": {"t": [item("BULK#1", 5000), item("ACCOUNT#a", 10)]}});

    let pending = pass(model.admit(&call, now));
    model.settle(pending.hear(true, answer.to_string().as_bytes()), now, HOLD);

    let counts = &model.counts().by_kind;
    assert_eq!(
        (counts["BULK"].read_units, counts["ACCOUNT"].read_units),
        (2.0, 1.0)
    );
}

#[test]
fn batch_writes_are_charged_but_never_refused() {
    let now = Instant::now();
    let mut model = model();
    let hot = key("BULK#1", "x").partition();
    let call = Call::BatchWrite {
        units: [(hot.clone(), 1500.0)].into(),
    };

    pass(model.admit(&call, now));
    pass(model.admit(&call, now));

    assert_eq!(model.counts().by_kind["BULK"].write_units, 3000.0);
    assert!(matches!(
        model.admit(
            &Call::Write {
                key: key("BULK#1", "y"),
                units: 1.0
            },
            now
        ),
        Verdict::Refuse(_)
    ));
}

#[test]
fn a_drawn_hold_lies_in_its_range() {
    let contention = Contention::default();
    for _ in 0..100 {
        assert!(contention.hold.contains(&contention.draw_hold()));
    }
    assert_eq!(Contention::holding(HOLD).draw_hold(), HOLD);
}

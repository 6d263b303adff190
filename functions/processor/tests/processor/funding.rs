//! Paying for a bulk: up front when the balance covers it, per batch when it does not, and the
//! two plain writes that create a prepaid item, raced and cut short.

use serde_json::json;
use shared::store::{
    bulks::Funding,
    items::{ItemState, Outcome},
};
use uuid::Uuid;

use crate::helpers::{company, completions, retried, spawn_app, spawn_app_with_credits};

#[tokio::test]
async fn a_prepaid_bulk_gives_back_once_what_its_failed_items_did_not_spend() {
    let app = spawn_app().await;
    // Two valid items (one a duplicate of the other, so a 409) and one invalid.
    let seeded = app
        .submit(&[
            company("a.com"),
            json!({"radar_type": "company_reviews"}),
            company("a.com"),
        ])
        .await;
    assert_eq!(seeded.bulk.funding, Funding::Reserved(2));
    assert_eq!(
        app.balance().await,
        98,
        "both valid items paid for on acceptance"
    );

    let report = app.process(seeded.all(1)).await;

    assert!(retried(&report).is_empty());
    let codes: Vec<_> = app
        .events(&seeded.bulk)
        .await
        .into_iter()
        .map(|event| event.unwrap()["code"].clone())
        .collect();
    // Items 0 and 2 name the same company: whichever of the two is created first (a batch's
    // items run at once) makes the other a 409.
    assert_eq!(codes[1], json!(400));
    let mut same_company = [codes[0].to_string(), codes[2].to_string()];
    same_company.sort_unstable();
    assert_eq!(same_company, ["409", "null"]);
    assert_eq!(completions([&report]).len(), 1);
    assert_eq!(app.balance().await, 99, "the 409's credit came back");

    // The item that completed the bulk, delivered again, finds the refund made.
    app.process(seeded.event([2], 2)).await;
    assert_eq!(app.balance().await, 99, "given back once");
}

#[tokio::test]
async fn a_bulk_the_balance_cannot_cover_is_metered_and_creates_what_the_balance_covers() {
    let app = spawn_app_with_credits(2).await;
    let seeded = app
        .submit(&[company("a.com"), company("b.com"), company("c.com")])
        .await;
    assert_eq!(seeded.bulk.funding, Funding::Metered);
    assert_eq!(app.balance().await, 2, "nothing taken on acceptance");

    app.process(seeded.all(1)).await;

    let states = app.states(&seeded.bulk).await;
    assert_eq!(
        states,
        [
            Some(ItemState::Created),
            Some(ItemState::Created),
            Some(ItemState::Failed)
        ]
    );
    assert_eq!(
        app.events(&seeded.bulk).await[2].as_ref().unwrap()["code"],
        402
    );
    assert_eq!(app.balance().await, 0);
}

#[tokio::test]
async fn a_creator_that_finds_its_item_ended_in_a_500_deletes_its_radar() {
    let app = spawn_app().await;
    let seeded = app.submit(&[company("a.com")]).await;
    // A last try recorded a 500 while this delivery was on its way.
    let failed = Outcome {
        state: ItemState::Failed,
        update_id: Uuid::new_v4(),
        event: json!({"update_id": "x", "code": 500}).to_string(),
    };
    app.deps
        .store
        .mark_item_terminal(&seeded.bulk, 0, &failed)
        .await
        .unwrap();

    let report = app.process(seeded.all(1)).await;

    assert!(retried(&report).is_empty());
    assert_eq!(app.states(&seeded.bulk).await, [Some(ItemState::Failed)]);
    assert!(app.radars().await.is_empty(), "no radar beside a 500");
    assert_eq!(app.balance().await, 100, "the reserve came back");
}

#[tokio::test]
async fn a_500_recorded_after_a_delivery_stopped_between_the_two_writes_deletes_the_radar() {
    let mut app = spawn_app().await;
    let seeded = app.submit(&[company("a.com")]).await;
    app.deps.faults = processor::Faults::crash_after(processor::Step::RadarStored);
    app.process(seeded.all(1)).await;
    assert_eq!(app.radars().await.len(), 1, "stored, its outcome not");
    assert_eq!(app.states(&seeded.bulk).await, [None]);

    // Every later delivery failed before creating; the dead letter is finalised.
    app.deps.faults = processor::Faults::default();
    let mut dead = seeded.all(6);
    dead.records[0].event_source_arn = app.deps.config.item_dead_letter_queue_arn.clone();
    let report = app.process(dead).await;

    assert!(retried(&report).is_empty());
    let event = app.events(&seeded.bulk).await[0].clone().unwrap();
    assert_eq!(event["code"], 500);
    assert!(app.radars().await.is_empty(), "no radar beside a 500");
    assert_eq!(app.balance().await, 100, "the reserve came back");
    assert_eq!(completions([&report]).len(), 1);
}

#[tokio::test]
async fn a_second_worker_on_a_prepaid_item_reports_the_first_ones_radar() {
    let mut app = spawn_app().await;
    let seeded = app.submit(&[company("a.com")]).await;
    app.deps.faults = processor::Faults::crash_after(processor::Step::RadarStored);
    app.process(seeded.all(1)).await;
    let (_, stored) = app.radars().await.remove(0);

    app.deps.faults = processor::Faults::default();
    app.process(seeded.all(2)).await;

    let event = app.events(&seeded.bulk).await[0].clone().unwrap();
    assert_eq!(event["update_type"], "radar_created");
    assert_eq!(event["data"], stored, "the radar the first delivery stored");
    assert_eq!(app.radars().await.len(), 1);
    assert_eq!(app.balance().await, 99);
}

/// The account's record, as the store reads it.
async fn account(app: &crate::helpers::App) -> shared::store::accounts::Account {
    app.deps
        .store
        .get_account(app.account.id)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn a_metered_item_waits_for_the_refund_of_a_prepaid_bulk_instead_of_taking_a_402() {
    let app = spawn_app_with_credits(2).await;
    // Two valid items naming one company: both are paid for up front, and one will be a 409
    // whose credit comes back only when the bulk completes.
    let prepaid = app.submit(&[company("a.com"), company("a.com")]).await;
    assert_eq!(prepaid.bulk.funding, Funding::Reserved(2));
    assert_eq!(account(&app).await.reserved, 2);
    let metered = app.submit(&[company("b.com")]).await;
    assert_eq!(metered.bulk.funding, Funding::Metered);

    let report = app.process(metered.all(1)).await;

    assert!(
        retried(&report).is_empty(),
        "sent back to the queue, not failed: no attempt spent"
    );
    assert_eq!(app.env.queue_depth("ItemQueue").await, 1);
    assert_eq!(app.states(&metered.bulk).await, [None], "no 402 yet");

    // The prepaid bulk completes and gives back its 409's credit, which the item then spends.
    app.process(prepaid.all(1)).await;
    let settled = account(&app).await;
    assert_eq!((settled.credits, settled.reserved), (1, 0));
    app.process(metered.all(1)).await;
    assert_eq!(app.states(&metered.bulk).await, [Some(ItemState::Created)]);
    assert_eq!(app.balance().await, 0);
}

#[tokio::test]
async fn a_metered_item_takes_its_402_on_its_last_try_or_once_it_has_waited_an_hour() {
    let app = spawn_app_with_credits(1).await;
    let prepaid = app.submit(&[company("a.com")]).await;
    assert_eq!(prepaid.bulk.funding, Funding::Reserved(1));
    let metered = app.submit(&[company("b.com"), company("c.com")]).await;
    let old = app
        .submit_as(
            app.account.id,
            &[company("d.com")],
            shared::store::bulks::BulkState::Accepted,
            chrono::Utc::now() - chrono::Duration::minutes(61),
        )
        .await;

    let last_try = app.deps.config.item_max_receive_count;
    app.process(metered.event([0], last_try)).await;
    app.process(metered.event([1], 1)).await;
    app.process(old.all(1)).await;

    let codes = |events: Vec<Option<serde_json::Value>>| -> Vec<_> {
        events
            .into_iter()
            .map(|event| event.map(|event| event["code"].clone()))
            .collect()
    };
    assert_eq!(
        codes(app.events(&metered.bulk).await),
        [Some(json!(402)), None],
        "the last try takes its 402; the first try waits"
    );
    assert_eq!(
        codes(app.events(&old.bulk).await),
        [Some(json!(402))],
        "waited long enough"
    );
    assert_eq!(account(&app).await.reserved, 1, "the reserve is still held");
}

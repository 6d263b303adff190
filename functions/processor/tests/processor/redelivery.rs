use processor::{Faults, Step};
use shared::queue::WebhookMessage;

use crate::helpers::{company, completions, retried, spawn_app};

#[tokio::test]
async fn a_message_delivered_twice_creates_one_radar_and_hands_on_the_same_event() {
    let app = spawn_app().await;
    let seeded = app.submit(&[company("a.com")]).await;

    let first = app.process(seeded.all(1)).await;
    let stored = app.events(&seeded.bulk).await;
    let second = app.process(seeded.all(2)).await;

    assert!(retried(&second).is_empty());
    assert_eq!(
        app.events(&seeded.bulk).await,
        stored,
        "the outcome is decided once"
    );
    assert_eq!(
        first.handed_off, second.handed_off,
        "same update_ids both times"
    );
    assert_eq!(app.radars().await.len(), 1);
    assert_eq!(app.balance().await, 99);
}

#[tokio::test]
async fn a_message_delivered_to_two_workers_at_once_creates_one_radar() {
    let app = spawn_app().await;
    let seeded = app.submit(&[company("a.com"), company("b.com")]).await;

    let (one, two) = tokio::join!(app.process(seeded.all(1)), app.process(seeded.all(1)));

    assert!(retried(&one).is_empty() && retried(&two).is_empty());
    assert_eq!(app.radars().await.len(), 2);
    assert_eq!(app.balance().await, 98);
    let item_ids = |report: &processor::BatchReport| {
        let mut ids: Vec<_> = report
            .handed_off
            .iter()
            .filter(|m| matches!(m, WebhookMessage::Item { .. }))
            .map(WebhookMessage::update_id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(item_ids(&one), item_ids(&two));
    let completion = app.snapshot(&seeded.bulk).await.bulk.completion.unwrap();
    let handed: Vec<_> = completions([&one, &two]);
    assert!(!handed.is_empty());
    assert!(
        handed.iter().all(|id| *id == completion.update_id),
        "one stable bulk_completed id"
    );
}

#[tokio::test]
async fn a_crash_after_any_step_leaves_every_invariant_holding_after_redelivery() {
    for step in [
        Step::Creating,
        Step::RadarStored,
        Step::Decided,
        Step::Tallied,
        Step::Completed,
        Step::HandedOff,
    ] {
        let mut app = spawn_app().await;
        let seeded = app.submit(&[company("a.com")]).await;
        app.deps.faults = Faults::crash_after(step);

        let crashed = app.process(seeded.all(1)).await;
        assert_eq!(
            retried(&crashed),
            ["message-0"],
            "{step:?}: the message comes back"
        );
        let decided_then = app.events(&seeded.bulk).await[0].clone();

        app.deps.faults = Faults::default();
        let redelivered = app.process(seeded.all(2)).await;

        assert!(retried(&redelivered).is_empty(), "{step:?}");
        let event = app.events(&seeded.bulk).await[0].clone().expect("terminal");
        if let Some(earlier) = decided_then {
            assert_eq!(
                event, earlier,
                "{step:?}: the outcome was not decided twice"
            );
        }
        assert_eq!(event["update_type"], "radar_created", "{step:?}");
        assert_eq!(app.radars().await.len(), 1, "{step:?}: one radar");
        assert_eq!(app.balance().await, 99, "{step:?}: one charge");
        let completion = app
            .snapshot(&seeded.bulk)
            .await
            .bulk
            .completion
            .expect("complete");
        assert_eq!(
            completions([&redelivered]),
            [completion.update_id],
            "{step:?}"
        );
        assert!(
            redelivered.handed_off.contains(&WebhookMessage::Item {
                bulk_id: seeded.bulk.id,
                item_index: 0,
                update_id: event["update_id"].as_str().unwrap().parse().unwrap(),
            }),
            "{step:?}: the stored event is handed on"
        );
    }
}

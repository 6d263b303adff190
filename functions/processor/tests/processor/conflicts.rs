use serde_json::{Value, json};

use crate::helpers::{App, spawn_app};

/// Creates `first` in one bulk, then submits `second` in another: the second's event.
async fn second_of(app: &App, first: Value, second: Value) -> (Value, Value) {
    let earlier = app.submit(&[first]).await;
    app.process(earlier.all(1)).await;
    let created = app.events(&earlier.bulk).await[0].clone().unwrap();
    assert_eq!(created["update_type"], "radar_created", "{created}");
    let later = app.submit(&[second]).await;
    app.process(later.all(1)).await;
    (created, app.events(&later.bulk).await[0].clone().unwrap())
}

fn assert_conflict(created: &Value, refused: &Value, field: &str) {
    let radar_id = created["data"]["radar_id"].as_str().unwrap();
    assert_eq!(refused["code"], 409, "{refused}");
    assert_eq!(refused["message"], "Conflict: Radar already exists");
    let error = &refused["errors"][0];
    assert_eq!(error["field"], field);
    assert_eq!(error["conflicting_radar_id"], radar_id);
    assert!(
        error["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("Conflicting radar_id: {radar_id}.")),
        "{error}"
    );
}

#[tokio::test]
async fn a_company_radar_conflicts_on_its_normalised_domain() {
    let app = spawn_app().await;
    let (created, refused) = second_of(
        &app,
        json!({"radar_type": "company_new_hires", "domain": "stripe.com"}),
        json!({"radar_type": "company_new_hires", "domain": "https://WWW.Stripe.com/"}),
    )
    .await;
    assert_conflict(&created, &refused, "domain");
    assert_eq!(app.balance().await, 99);
}

#[tokio::test]
async fn a_contact_radar_conflicts_on_its_identifiers() {
    let app = spawn_app().await;
    let (created, refused) = second_of(
        &app,
        json!({"radar_type": "contact_social_posts", "profile_url": "https://linkedin.com/in/ada"}),
        json!({"radar_type": "contact_social_posts",
               "profile_url": "https://www.linkedin.com/in/ada/?trk=x"}),
    )
    .await;
    assert_conflict(&created, &refused, "identifiers");
}

#[tokio::test]
async fn a_keyword_industry_radar_conflicts_on_its_keyword() {
    let app = spawn_app().await;
    let (created, refused) = second_of(
        &app,
        json!({"radar_type": "industry_job_openings", "keyword": "Fintech AI"}),
        json!({"radar_type": "industry_job_openings", "keyword": "fintech   ai"}),
    )
    .await;
    assert_conflict(&created, &refused, "keyword");
}

#[tokio::test]
async fn other_industry_radars_conflict_on_their_type() {
    let app = spawn_app().await;
    let (created, refused) = second_of(
        &app,
        json!({"radar_type": "industry_funding_rounds"}),
        json!({"radar_type": "industry_funding_rounds", "custom_fields": {"again": true}}),
    )
    .await;
    assert_conflict(&created, &refused, "radar_type");
    assert_eq!(refused["custom_fields"], json!({"again": true}));
}

#[tokio::test]
async fn the_same_identity_under_another_type_or_account_is_no_conflict() {
    let app = spawn_app().await;
    let other = app.env.account().await;
    let first = app
        .submit(&[
            json!({"radar_type": "company_new_hires", "domain": "stripe.com"}),
            json!({"radar_type": "company_reviews", "domain": "stripe.com"}),
        ])
        .await;
    let theirs = app
        .submit_as(
            other.id,
            &[json!({"radar_type": "company_new_hires", "domain": "stripe.com"})],
            shared::store::bulks::BulkState::Accepted,
            chrono::Utc::now(),
        )
        .await;

    app.process(first.all(1)).await;
    app.process(theirs.all(1)).await;

    for event in app
        .events(&first.bulk)
        .await
        .into_iter()
        .chain(app.events(&theirs.bulk).await)
    {
        assert_eq!(event.unwrap()["update_type"], "radar_created");
    }
}

#[tokio::test]
async fn two_items_of_one_bulk_with_one_identity_create_one_radar_and_one_409() {
    let app = spawn_app().await;
    let seeded = app
        .submit(&[
            json!({"radar_type": "company_mentions", "domain": "acme.io"}),
            json!({"radar_type": "company_mentions", "domain": "ACME.io"}),
        ])
        .await;

    // Both in one batch, so they race each other.
    app.process(seeded.all(1)).await;

    let events: Vec<Value> = app
        .events(&seeded.bulk)
        .await
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let created: Vec<&Value> = events
        .iter()
        .filter(|e| e["update_type"] == "radar_created")
        .collect();
    let refused: Vec<&Value> = events.iter().filter(|e| e["code"] == 409).collect();
    assert_eq!((created.len(), refused.len()), (1, 1), "{events:?}");
    assert_conflict(created[0], refused[0], "domain");
    assert_eq!(app.balance().await, 99);
}

#[tokio::test]
async fn a_conflict_in_a_batch_does_not_hold_back_its_neighbours() {
    let app = spawn_app().await;
    let earlier = app
        .submit(&[json!({"radar_type": "company_reviews", "domain": "taken.com"})])
        .await;
    app.process(earlier.all(1)).await;
    let seeded = app
        .submit(&[
            json!({"radar_type": "company_reviews", "domain": "free-1.com"}),
            json!({"radar_type": "company_reviews", "domain": "taken.com"}),
            json!({"radar_type": "company_reviews", "domain": "free-2.com"}),
        ])
        .await;

    app.process(seeded.all(1)).await;

    let codes: Vec<Value> = app
        .events(&seeded.bulk)
        .await
        .into_iter()
        .map(|event| {
            event
                .unwrap()
                .get("code")
                .cloned()
                .unwrap_or(json!("created"))
        })
        .collect();
    assert_eq!(codes, [json!("created"), json!(409), json!("created")]);
    assert_eq!(app.balance().await, 97);
}

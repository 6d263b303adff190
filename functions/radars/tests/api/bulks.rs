//! `GET /v1/radars/bulk`: the account's bulks, newest first, with their counts.

use serde_json::Value;

use crate::helpers::spawn_app;

fn bulk_ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .expect("data[]")
        .iter()
        .map(|bulk| bulk["bulk_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_accounts_bulks_list_newest_first_with_their_counts() {
    let app = spawn_app().await;
    let done = app.bulk(3).await;
    let running = app.bulk(4).await;
    let other = app.as_account(app.env.account().await);
    other.bulk(1).await;
    assert!(
        app.tally(&done, 2, 1).await,
        "the last item completes the bulk"
    );
    app.complete(&done).await;
    assert!(!app.tally(&running, 1, 0).await);

    let (status, listed) = app.get("/v1/radars/bulk").await;

    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["message"], "Bulk submissions retrieved successfully");
    assert_eq!(
        bulk_ids(&listed),
        [running.id.to_string(), done.id.to_string()]
    );
    assert_eq!(listed["has_more"], false);
    let (first, second) = (&listed["data"][0], &listed["data"][1]);
    assert_eq!(first["status"], "processing");
    assert_eq!(
        first["summary"],
        serde_json::json!({"total": 4, "processing": 3, "created": 1, "failed": 0})
    );
    assert_eq!(first["completed_at"], Value::Null);
    assert_eq!(
        first["created_at"],
        shared::clock::rfc3339(running.created_at)
    );
    assert_eq!(second["status"], "completed");
    assert_eq!(
        second["summary"],
        serde_json::json!({"total": 3, "processing": 0, "created": 2, "failed": 1})
    );
    assert_eq!(second["completed_at"], shared::clock::rfc3339(app.now));
}

#[tokio::test]
async fn bulks_page_by_cursor_and_never_list_an_unaccepted_one() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.bulk(1).await.id.to_string());
    }
    ids.reverse();
    // A submission that never got its 202 is not the caller's to see.
    let begun = shared::store::bulks::Bulk {
        id: uuid::Uuid::now_v7(),
        state: shared::store::bulks::BulkState::Submitting,
        ..app
            .deps
            .store
            .get_bulk(ids[0].parse().unwrap())
            .await
            .unwrap()
            .unwrap()
    };
    app.deps.store.begin_bulk(&begun, None).await.unwrap();

    let (_, first) = app.get("/v1/radars/bulk?limit=2").await;
    assert_eq!(bulk_ids(&first), ids[..2]);
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get(&format!("/v1/radars/bulk?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(bulk_ids(&second), ids[2..]);
    assert_eq!(second["next_cursor"], Value::Null);
}

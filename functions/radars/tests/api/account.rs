//! `GET /v1/account`: the balance, the radar counts and a month's usage.

use serde_json::json;

use crate::helpers::{assert_envelope, field_errors, spawn_app};

#[tokio::test]
async fn the_account_shows_its_balance_counts_and_this_months_usage() {
    let app = spawn_app().await;
    let first = app.created("a.com").await;
    app.created("b.com").await;
    let (status, _) =
        test_support::response_json(&app.call("DELETE", &format!("/v1/radars/{first}"), "").await);
    assert_eq!(status, 200);
    // A bulk of 3: 2 created, 1 failed, counted when it completes.
    let bulk = app.bulk(3).await;
    app.tally(&bulk, 2, 1).await;
    app.complete(&bulk).await;

    let (status, body) = app.get("/v1/account").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Account retrieved successfully");
    let month = shared::store::usage::month_of(app.now);
    assert_eq!(
        body["data"],
        json!({
            "account_id": app.account.id,
            // 100, less two single creates and the bulk's two radars (its failed item's
            // reserved credit came back when it completed).
            "balance": 96,
            "radars": {"active": 3, "inactive": 1},
            "usage": {
                "month": month,
                "radars_activated": 4,
                "radars_deactivated": 1,
                "radars_failed": 1
            }
        })
    );
}

#[tokio::test]
async fn another_month_has_its_own_usage_and_a_bad_month_is_a_400() {
    let app = spawn_app().await;
    app.created("a.com").await;

    let (status, body) = app.get("/v1/account?month=2001-01").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["usage"],
        json!({"month": "2001-01", "radars_activated": 0, "radars_deactivated": 0, "radars_failed": 0})
    );
    assert_eq!(body["data"]["radars"], json!({"active": 1, "inactive": 0}));

    for bad in ["2001-13", "2001-1", "01-2001", "now"] {
        let response = app
            .call("GET", &format!("/v1/account?month={bad}"), "")
            .await;
        let body = assert_envelope(&response, 400, "Invalid query parameter");
        assert_eq!(field_errors(&body)[0].0, "month", "{bad}");
    }
}

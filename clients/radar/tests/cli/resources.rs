//! `radar radar get` and `radar account`: the resources around a bulk, as JSON.

use serde_json::Value;

use crate::support::{Stack, read_results};

#[tokio::test]
async fn a_created_radar_and_the_account_are_shown_and_an_unknown_radar_is_the_apis_404() {
    let stack = Stack::up(50).await;
    let file = stack.path("one.json");
    std::fs::write(
        &file,
        r#"{"radars": [{"radar_type": "company_mentions", "domain": "acme.example.com"}]}"#,
    )
    .unwrap();
    let out = stack.path("one.csv");
    let (lines, answer) = stack.radar(&stack.submit_args(&file, &out)).await;
    answer.unwrap();
    let radar_id = read_results(&out)[0]["radar_id"].clone();
    assert!(!radar_id.is_empty(), "{}", lines.text());

    let (shown, answer) = stack.radar(&["radar", "get", &radar_id]).await;
    answer.unwrap();
    let shown: Value = serde_json::from_str(&shown.text()).unwrap();
    assert_eq!(shown["data"]["radar_id"], radar_id.as_str());
    assert_eq!(shown["data"]["domain"], "acme.example.com");

    let (account, answer) = stack.radar(&["account"]).await;
    answer.unwrap();
    let account: Value = serde_json::from_str(&account.text()).unwrap();
    assert_eq!(account["data"]["balance"], 49);
    assert_eq!(account["data"]["radars"]["active"], 1);

    let (_, answer) = stack
        .radar(&["radar", "get", "01a234f8-fcc2-745f-850c-e36db599c4b4"])
        .await;
    let failure = answer.unwrap_err().to_string();
    assert!(failure.starts_with("404 "), "{failure}");
}

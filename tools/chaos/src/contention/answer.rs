//! DynamoDB's refusals, as the JSON bodies the SDK parses (aws-sdk-dynamodb's deserializers:
//! `TransactionCanceledException` reads `Message` and `CancellationReasons`, each reason `Code`,
//! `Message` and `Item`; `TransactionConflictException` and
//! `ProvisionedThroughputExceededException` read `message`, the latter also
//! `ThrottlingReasons` of `reason` and `resource`). Every one is a 400.

use serde_json::{Value, json};

const NAMESPACE: &str = "com.amazonaws.dynamodb.v20120810";

/// DynamoDB's words for an item another transaction holds.
const ONGOING: &str = "Transaction is ongoing for the item";
/// DynamoDB's words when a partition is out of throughput (the on-demand table's; "for one or
/// more global secondary indexes" is the index's, and the table has none).
const THROTTLED: &str = "Throughput exceeds the current capacity of your table or index. \
    DynamoDB is automatically scaling your table or index so please try again shortly. If \
    exceptions persist, check if you have a hot key: \
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html.";

/// Why one action of a transaction was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Nothing was wrong with it: another action sank the transaction.
    None,
    TransactionConflict,
    ThrottlingError,
}

impl Reason {
    fn code(self) -> &'static str {
        match self {
            Reason::None => "None",
            Reason::TransactionConflict => "TransactionConflict",
            Reason::ThrottlingError => "ThrottlingError",
        }
    }
}

/// A cancelled `TransactWriteItems`: a reason per action, in request order. A `None` reason
/// has no message at all, as DynamoDB sends it.
pub fn transaction_cancelled(reasons: &[Reason]) -> Value {
    let codes: Vec<&str> = reasons.iter().map(|reason| reason.code()).collect();
    let reasons: Vec<Value> = reasons
        .iter()
        .map(|reason| match reason {
            Reason::None => json!({"Code": "None"}),
            Reason::TransactionConflict => json!({"Code": reason.code(), "Message": ONGOING}),
            Reason::ThrottlingError => json!({"Code": reason.code(), "Message": THROTTLED}),
        })
        .collect();
    json!({
        "__type": format!("{NAMESPACE}#TransactionCanceledException"),
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
        "CancellationReasons": reasons,
    })
}

/// A single write on an item a transaction holds.
pub fn transaction_conflict() -> Value {
    json!({
        "__type": format!("{NAMESPACE}#TransactionConflictException"),
        "message": ONGOING,
    })
}

/// A single call beyond its partition's throughput.
pub fn throughput_exceeded(write: bool) -> Value {
    let reason = if write {
        "TableWriteKeyRangeThroughputExceeded"
    } else {
        "TableReadKeyRangeThroughputExceeded"
    };
    json!({
        "__type": format!("{NAMESPACE}#ProvisionedThroughputExceededException"),
        "message": THROTTLED,
        "ThrottlingReasons": [{"reason": reason}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancellation_lists_a_code_per_action_and_a_message_only_for_refused_ones() {
        let body = transaction_cancelled(&[
            Reason::None,
            Reason::TransactionConflict,
            Reason::ThrottlingError,
        ]);

        assert_eq!(
            body["__type"],
            "com.amazonaws.dynamodb.v20120810#TransactionCanceledException"
        );
        assert_eq!(
            body["Message"],
            "Transaction cancelled, please refer cancellation reasons for specific reasons \
             [None, TransactionConflict, ThrottlingError]"
        );
        let reasons = body["CancellationReasons"].as_array().unwrap();
        assert_eq!(reasons[0], json!({"Code": "None"}));
        assert_eq!(
            reasons[1],
            json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
        );
        assert_eq!(reasons[2]["Code"], "ThrottlingError");
        assert!(
            reasons[2]["Message"]
                .as_str()
                .unwrap()
                .starts_with("Throughput exceeds the current capacity of your table or index.")
        );
    }

    #[test]
    fn single_call_refusals_name_their_exception() {
        assert_eq!(
            transaction_conflict()["__type"],
            "com.amazonaws.dynamodb.v20120810#TransactionConflictException"
        );
        let throttled = throughput_exceeded(false);
        assert_eq!(
            throttled["__type"],
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
        );
        assert_eq!(
            throttled["ThrottlingReasons"][0]["reason"],
            "TableReadKeyRangeThroughputExceeded"
        );
    }
}

//! An SDK interceptor that records what a client asks AWS to do, in IAM's terms: the action
//! IAM checks (`dynamodb:PutItem`, `sqs:SendMessage`), the resource (a table or queue name),
//! and for DynamoDB item operations the partition key's leading part (`BULK`, `ACCOUNT`, ...),
//! which is what a `dynamodb:LeadingKeys` condition sees. The policy test gives each function a
//! recorder of its own and holds the template's policies against what they recorded.
//!
//! IAM checks some operations as others: a `TransactWriteItems` as the put, update, delete or
//! condition check of each of its items, and SQS's batch operations as their single forms.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use aws_sdk_dynamodb::config::{
    ConfigBag, Intercept, RuntimeComponents, interceptors::BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::{box_error::BoxError, client::orchestrator::Metadata};
use serde_json::Value;

/// One permission a request needed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Call {
    /// As IAM names it: `dynamodb:GetItem`.
    pub action: String,
    /// The table's or the queue's name.
    pub resource: String,
    /// The partition key up to its first `#` (the whole key when it has none), for DynamoDB
    /// item operations.
    pub leading_key: Option<String>,
}

/// Every distinct [`Call`] the clients it is attached to made.
#[derive(Debug, Clone, Default)]
pub struct CallRecorder(Arc<Mutex<BTreeSet<Call>>>);

impl CallRecorder {
    pub fn calls(&self) -> BTreeSet<Call> {
        self.0.lock().unwrap().clone()
    }
}

impl Intercept for CallRecorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let body: Value = context
            .request()
            .body()
            .bytes()
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .unwrap_or(Value::Null);
        let calls = match metadata.service().to_ascii_lowercase().as_str() {
            "dynamodb" => dynamodb_calls(metadata.name(), &body),
            "sqs" => vec![sqs_call(metadata.name(), &body)],
            other => vec![Call {
                action: format!("{other}:{}", metadata.name()),
                resource: "*".into(),
                leading_key: None,
            }],
        };
        self.0.lock().unwrap().extend(calls);
        Ok(())
    }
}

/// The permissions one DynamoDB request needs.
fn dynamodb_calls(operation: &str, body: &Value) -> Vec<Call> {
    let call = |action: &str, table: &Value, key: Option<&Value>| Call {
        action: format!("dynamodb:{action}"),
        resource: table.as_str().unwrap_or("?").to_owned(),
        leading_key: key.map(leading_key),
    };
    match operation {
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let (kind, write) = item.as_object()?.iter().next()?;
                let action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    _ => "ConditionCheckItem",
                };
                let key = write.get("Key").or_else(|| write.get("Item"));
                Some(call(action, &write["TableName"], key))
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => {
            let mut calls = Vec::new();
            for (table, requests) in body["RequestItems"].as_object().into_iter().flatten() {
                let table = Value::String(table.clone());
                let keys: Vec<&Value> = match requests {
                    Value::Object(read) => read["Keys"].as_array().into_iter().flatten().collect(),
                    Value::Array(writes) => writes
                        .iter()
                        .filter_map(|w| {
                            w.pointer("/PutRequest/Item")
                                .or_else(|| w.pointer("/DeleteRequest/Key"))
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                calls.extend(
                    keys.into_iter()
                        .map(|key| call(operation, &table, Some(key))),
                );
            }
            calls
        }
        "Query" => {
            // A query of an index needs the permission on the index, `<table>/index/<name>`.
            let resource = match body["IndexName"].as_str() {
                Some(index) => Value::String(format!(
                    "{}/index/{index}",
                    body["TableName"].as_str().unwrap_or("?")
                )),
                None => body["TableName"].clone(),
            };
            // The partition key is named in the key condition: `pk = :placeholder ...` (on the
            // account index, `#apk = :placeholder`).
            let placeholder = body["KeyConditionExpression"]
                .as_str()
                .and_then(|expression| expression.split("pk = ").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_default();
            let value = &body["ExpressionAttributeValues"][placeholder];
            let key = serde_json::json!({ "pk": value });
            vec![call(operation, &resource, Some(&key))]
        }
        "Scan" => vec![call(operation, &body["TableName"], None)],
        _ => {
            let key = body.get("Key").or_else(|| body.get("Item"));
            vec![call(operation, &body["TableName"], key)]
        }
    }
}

/// The partition key of a key or item, up to its first `#`.
fn leading_key(key: &Value) -> String {
    let pk = key["pk"]["S"].as_str().unwrap_or("?");
    pk.split('#').next().unwrap_or(pk).to_owned()
}

/// The permission one SQS request needs: batch operations are checked as their single forms.
fn sqs_call(operation: &str, body: &Value) -> Call {
    let action = operation.strip_suffix("Batch").unwrap_or(operation);
    let queue = body["QueueUrl"]
        .as_str()
        .and_then(|url| url.rsplit('/').next())
        .unwrap_or("*");
    Call {
        action: format!("sqs:{action}"),
        resource: queue.to_owned(),
        leading_key: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_transaction_needs_each_of_its_writes() {
        let body = json!({"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "BULK#1"}, "sk": {"S": "ITEM#0001"}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "ACCOUNT#a"}, "sk": {"S": "A"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "RADAR#a#x"}}}},
        ]});
        let calls: Vec<(String, Option<String>)> = dynamodb_calls("TransactWriteItems", &body)
            .into_iter()
            .map(|c| (c.action, c.leading_key))
            .collect();
        assert_eq!(
            calls,
            [
                ("dynamodb:PutItem".into(), Some("BULK".into())),
                ("dynamodb:UpdateItem".into(), Some("ACCOUNT".into())),
                ("dynamodb:ConditionCheckItem".into(), Some("RADAR".into())),
            ]
        );
    }

    #[test]
    fn batches_queries_and_queues_name_their_keys_and_queues() {
        let get = json!({"RequestItems": {"t": {"Keys": [{"pk": {"S": "BULK#1"}}]}}});
        let write =
            json!({"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "BULK#2"}}}}]}});
        let query = json!({"TableName": "t", "KeyConditionExpression": "pk = :pk AND sk > :s",
                           "ExpressionAttributeValues": {":pk": {"S": "BULK#3"}}});
        let leading = |calls: Vec<Call>| calls[0].leading_key.clone();
        assert_eq!(
            leading(dynamodb_calls("BatchGetItem", &get)),
            Some("BULK".into())
        );
        assert_eq!(
            leading(dynamodb_calls("BatchWriteItem", &write)),
            Some("BULK".into())
        );
        assert_eq!(
            leading(dynamodb_calls("Query", &query)),
            Some("BULK".into())
        );
        let connect = json!({"TableName": "t", "Key": {"pk": {"S": "CONNECT"}}});
        assert_eq!(
            leading(dynamodb_calls("GetItem", &connect)),
            Some("CONNECT".into())
        );

        let send = sqs_call(
            "SendMessageBatch",
            &json!({"QueueUrl": "http://h/123/p-ItemQueue"}),
        );
        assert_eq!(
            (send.action.as_str(), send.resource.as_str()),
            ("sqs:SendMessage", "p-ItemQueue")
        );
    }
}

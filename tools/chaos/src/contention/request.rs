//! What a DynamoDB call touches, read from its JSON body: the items (table and full primary key),
//! and what they cost in capacity units as DynamoDB rounds them.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The table's key attributes (`infra/template.yaml`): every record is keyed `pk` + `sk`. The
/// proxy takes them as given rather than asking the emulator for the table's schema.
const PARTITION_KEY: &str = "pk";
const SORT_KEY: &str = "sk";

/// One write unit covers 1 KB of item; one read unit 4 KB, read strongly consistent.
const WRITE_UNIT_BYTES: usize = 1024;
const READ_UNIT_BYTES: usize = 4096;

/// One partition: a table and a partition key value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    pub table: String,
    pub pk: String,
}

impl Partition {
    /// The record kind the key names: its text before the first `#` (`BULK`, `ACCOUNT`, ...).
    pub fn kind(&self) -> &str {
        self.pk.split('#').next().unwrap_or_default()
    }
}

/// One item: a table and its full primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey {
    pub table: String,
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    pub fn partition(&self) -> Partition {
        Partition {
            table: self.table.clone(),
            pk: self.pk.clone(),
        }
    }
}

/// One action of a `TransactWriteItems`.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub key: ItemKey,
    /// False for a `ConditionCheck`: it meets holds but takes none.
    pub writes: bool,
    /// Write units, doubled as DynamoDB bills a transaction's writes.
    pub units: f64,
}

/// A DynamoDB call as the contention model sees it. Sizes that only the answer tells (reads)
/// are left to the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `TransactWriteItems`, its actions in request order.
    Transaction {
        actions: Vec<Action>,
        /// `ClientRequestToken`: a retry of a committed transaction is answered as the first
        /// was, so it never conflicts with that transaction's own hold.
        token: Option<String>,
    },
    /// `PutItem`, `UpdateItem`, `DeleteItem`.
    Write { key: ItemKey, units: f64 },
    /// `BatchWriteItem`: write units by partition.
    BatchWrite { units: BTreeMap<Partition, f64> },
    /// `GetItem` or a `Query` of the table (not of an index).
    Read {
        partition: Partition,
        consistent: bool,
    },
    /// `BatchGetItem`: whether each table is read strongly consistent.
    BatchRead { consistent: BTreeMap<String, bool> },
}

impl Call {
    /// The call `operation` (such as `PutItem`) makes with `body`; `None` for calls the model
    /// leaves alone (scans, index queries, the control plane) or bodies it cannot read.
    pub fn parse(operation: &str, body: &[u8]) -> Option<Call> {
        let body: Value = serde_json::from_slice(body).ok()?;
        let table = || body["TableName"].as_str().map(str::to_owned);
        let consistent = body["ConsistentRead"].as_bool().unwrap_or(false);
        match operation {
            "TransactWriteItems" => {
                let actions = body["TransactItems"]
                    .as_array()?
                    .iter()
                    .map(action)
                    .collect::<Option<Vec<_>>>()?;
                let token = body["ClientRequestToken"].as_str().map(str::to_owned);
                Some(Call::Transaction { actions, token })
            }
            "PutItem" => {
                let item = body["Item"].as_object()?;
                Some(Call::Write {
                    key: item_key(table()?, item)?,
                    units: write_units(item_size(item)),
                })
            }
            // The item's size is not in the request. The emulator would report it if asked
            // (`ReturnConsumedCapacity`), but only after applying the write, while the model
            // must decide before; and asking means rewriting every body both ways. One unit is
            // right for this project's updated records (rate windows, tallies, balances, bulk
            // state and delivery records are all under 1 KB).
            "UpdateItem" | "DeleteItem" => Some(Call::Write {
                key: item_key(table()?, body["Key"].as_object()?)?,
                units: 1.0,
            }),
            "GetItem" => Some(Call::Read {
                partition: item_key(table()?, body["Key"].as_object()?)?.partition(),
                consistent,
            }),
            "Query" if body.get("IndexName").is_none() => Some(Call::Read {
                partition: Partition {
                    table: table()?,
                    pk: queried_partition(&body)?,
                },
                consistent,
            }),
            "BatchWriteItem" => {
                let mut units = BTreeMap::new();
                for (table, requests) in body["RequestItems"].as_object()? {
                    for request in requests.as_array()? {
                        let (key, cost) =
                            if let Some(item) = request["PutRequest"]["Item"].as_object() {
                                (item_key(table.clone(), item)?, write_units(item_size(item)))
                            } else {
                                let key = request["DeleteRequest"]["Key"].as_object()?;
                                (item_key(table.clone(), key)?, 1.0)
                            };
                        *units.entry(key.partition()).or_default() += cost;
                    }
                }
                Some(Call::BatchWrite { units })
            }
            "BatchGetItem" => Some(Call::BatchRead {
                consistent: body["RequestItems"]
                    .as_object()?
                    .iter()
                    .map(|(table, keys)| {
                        let consistent = keys["ConsistentRead"].as_bool().unwrap_or(false);
                        (table.clone(), consistent)
                    })
                    .collect(),
            }),
            _ => None,
        }
    }
}

fn action(entry: &Value) -> Option<Action> {
    let (kind, action) = entry.as_object()?.iter().next()?;
    let table = action["TableName"].as_str()?.to_owned();
    let (key, units, writes) = match kind.as_str() {
        "Put" => {
            let item = action["Item"].as_object()?;
            (item_key(table, item)?, write_units(item_size(item)), true)
        }
        // One unit, as for a single update (see `Call::parse`).
        "Update" | "Delete" => (item_key(table, action["Key"].as_object()?)?, 1.0, true),
        "ConditionCheck" => (item_key(table, action["Key"].as_object()?)?, 1.0, false),
        _ => return None,
    };
    Some(Action {
        key,
        writes,
        units: 2.0 * units,
    })
}

/// The key of `item` (or of a `Key` object) in `table`.
fn item_key(table: String, item: &Map<String, Value>) -> Option<ItemKey> {
    Some(ItemKey {
        table,
        pk: key_text(item.get(PARTITION_KEY)?)?,
        sk: item.get(SORT_KEY).and_then(key_text).unwrap_or_default(),
    })
}

/// The partition of `item`, an item of `table`.
pub fn partition_of(table: &str, item: &Map<String, Value>) -> Option<Partition> {
    Some(item_key(table.to_owned(), item)?.partition())
}

/// A key attribute's value as text, whatever its type (`S`, `N` or `B`).
fn key_text(value: &Value) -> Option<String> {
    let (_, inner) = value.as_object()?.iter().next()?;
    inner.as_str().map(str::to_owned)
}

/// The partition key a `Query`'s `KeyConditionExpression` names (`pk = :pk AND ...`).
fn queried_partition(body: &Value) -> Option<String> {
    let expression = body["KeyConditionExpression"].as_str()?;
    let name = |token: &str| -> String {
        match body["ExpressionAttributeNames"][token].as_str() {
            Some(name) if token.starts_with('#') => name.to_owned(),
            _ => token.to_owned(),
        }
    };
    expression
        .split(" AND ")
        .chain(expression.split(" and "))
        .find_map(|clause| {
            let (left, right) = clause.split_once('=')?;
            let (left, right) = (left.trim(), right.trim());
            let placeholder = if name(left) == PARTITION_KEY {
                right
            } else if name(right) == PARTITION_KEY {
                left
            } else {
                return None;
            };
            key_text(&body["ExpressionAttributeValues"][placeholder])
        })
}

/// Write units of one item of `size` bytes: 1 KB steps, at least one.
pub fn write_units(size: usize) -> f64 {
    units(size, WRITE_UNIT_BYTES)
}

/// Read units of `size` bytes read at once: 4 KB steps, at least one; half as many when
/// eventually consistent.
pub fn read_units(size: usize, consistent: bool) -> f64 {
    let units = units(size, READ_UNIT_BYTES);
    if consistent { units } else { units / 2.0 }
}

fn units(size: usize, step: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let steps = size.div_ceil(step).max(1) as f64;
    steps
}

/// An item's size as DynamoDB counts it: each attribute's name plus its value.
pub fn item_size(item: &Map<String, Value>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// A value's size, by DynamoDB's rules: strings and binaries their bytes, numbers a byte per two
/// significant digits plus one, booleans and nulls one byte, lists and maps 3 bytes plus a byte
/// per element (and a map element's name).
fn value_size(value: &Value) -> usize {
    let Some((kind, inner)) = value.as_object().and_then(|typed| typed.iter().next()) else {
        return 0;
    };
    let each = |size: fn(&Value) -> usize| -> usize {
        inner
            .as_array()
            .map_or(0, |values| values.iter().map(size).sum())
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => number_size(inner),
        "B" => binary_size(inner),
        "SS" => each(|v| v.as_str().map_or(0, str::len)),
        "NS" => each(number_size),
        "BS" => each(binary_size),
        "L" => 3 + each(|v| 1 + value_size(v)),
        "M" => {
            3 + inner.as_object().map_or(0, |fields| {
                fields
                    .iter()
                    .map(|(name, v)| 1 + name.len() + value_size(v))
                    .sum()
            })
        }
        // BOOL, NULL.
        _ => 1,
    }
}

/// A number's size: leading and trailing zeros do not count.
fn number_size(value: &Value) -> usize {
    let text = value.as_str().unwrap_or_default();
    let mantissa = text.split(['e', 'E']).next().unwrap_or_default();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// A binary's size: its bytes, which the JSON carries in base64.
fn binary_size(value: &Value) -> usize {
    let text = value.as_str().unwrap_or_default().trim_end();
    let padding = text.len() - text.trim_end_matches('=').len();
    (text.len() / 4 * 3).saturating_sub(padding)
}

#[cfg(test)]
// Units here are whole numbers and halves, exact in binary.
#[allow(clippy::float_cmp)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(operation: &str, body: &Value) -> Call {
        Call::parse(operation, body.to_string().as_bytes()).expect("a modelled call")
    }

    fn key(pk: &str, sk: &str) -> ItemKey {
        ItemKey {
            table: "t".into(),
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    #[test]
    fn a_put_is_keyed_and_sized_by_its_item() {
        let body = json!({"TableName": "t", "Item": {
            "pk": {"S": "BULK#1"}, "sk": {"S": "ITEM#0001"}, "event": {"S": "x".repeat(2000)},
        }});

        let call = parse("PutItem", &body);

        // 2 + 6 + 2 + 9 + 5 + 2000 bytes: two 1 KB steps.
        assert_eq!(
            call,
            Call::Write {
                key: key("BULK#1", "ITEM#0001"),
                units: 2.0
            }
        );
    }

    #[test]
    fn updates_and_deletes_count_one_unit() {
        let body =
            json!({"TableName": "t", "Key": {"pk": {"S": "ACCOUNT#a"}, "sk": {"S": "ACCOUNT"}}});
        for operation in ["UpdateItem", "DeleteItem"] {
            assert_eq!(
                parse(operation, &body),
                Call::Write {
                    key: key("ACCOUNT#a", "ACCOUNT"),
                    units: 1.0
                }
            );
        }
    }

    #[test]
    fn a_transaction_lists_its_actions_in_order_with_doubled_units() {
        let body = json!({"ClientRequestToken": "tok", "TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "BULK#1"}, "sk": {"S": "ITEM#0001"}, "e": {"S": "x".repeat(1500)}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "ACCOUNT#a"}, "sk": {"S": "ACCOUNT"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "RADAR#a#d"}, "sk": {"S": "RADAR"}}}},
        ]});

        let Call::Transaction { actions, token } = parse("TransactWriteItems", &body) else {
            panic!("a transaction");
        };

        assert_eq!(token.as_deref(), Some("tok"));
        let seen: Vec<(&str, bool, f64)> = actions
            .iter()
            .map(|a| (a.key.pk.as_str(), a.writes, a.units))
            .collect();
        assert_eq!(
            seen,
            [
                ("BULK#1", true, 4.0),
                ("ACCOUNT#a", true, 2.0),
                ("RADAR#a#d", false, 2.0)
            ]
        );
    }

    #[test]
    fn a_query_reads_the_partition_its_key_condition_names() {
        let plain = json!({"TableName": "t", "KeyConditionExpression": "pk = :pk AND sk < :end",
            "ExpressionAttributeValues": {":pk": {"S": "BULK#1"}, ":end": {"S": "J"}}, "ConsistentRead": true});
        let named = json!({"TableName": "t", "KeyConditionExpression": "begins_with(sk, :p) and #k = :v",
            "ExpressionAttributeNames": {"#k": "pk"},
            "ExpressionAttributeValues": {":v": {"S": "BULK#2"}, ":p": {"S": "W"}}});
        let index = json!({"TableName": "t", "IndexName": "i", "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "BULK#1"}}});

        let partition = |pk: &str| Partition {
            table: "t".into(),
            pk: pk.into(),
        };
        assert_eq!(
            parse("Query", &plain),
            Call::Read {
                partition: partition("BULK#1"),
                consistent: true
            }
        );
        assert_eq!(
            parse("Query", &named),
            Call::Read {
                partition: partition("BULK#2"),
                consistent: false
            }
        );
        assert_eq!(Call::parse("Query", index.to_string().as_bytes()), None);
    }

    #[test]
    fn a_batch_write_sums_units_by_partition() {
        let body = json!({"RequestItems": {"t": [
            {"PutRequest": {"Item": {"pk": {"S": "BULK#1"}, "sk": {"S": "FIELDS#0000"}, "f": {"S": "x".repeat(3000)}}}},
            {"PutRequest": {"Item": {"pk": {"S": "BULK#1"}, "sk": {"S": "FIELDS#0100"}}}},
            {"DeleteRequest": {"Key": {"pk": {"S": "BULK#2"}, "sk": {"S": "X"}}}},
        ]}});

        let Call::BatchWrite { units } = parse("BatchWriteItem", &body) else {
            panic!("a batch write");
        };

        let by_pk: Vec<(&str, f64)> = units.iter().map(|(p, u)| (p.pk.as_str(), *u)).collect();
        assert_eq!(by_pk, [("BULK#1", 4.0), ("BULK#2", 1.0)]);
    }

    #[test]
    fn calls_the_model_leaves_alone_parse_to_nothing() {
        assert_eq!(Call::parse("Scan", br#"{"TableName": "t"}"#), None);
        assert_eq!(Call::parse("PutItem", b"not json"), None);
        assert_eq!(
            Call::parse("PutItem", br#"{"TableName": "t", "Item": {}}"#),
            None
        );
    }

    #[test]
    fn sizes_follow_dynamodbs_rules() {
        let size = |value: Value| value_size(&value);
        assert_eq!(size(json!({"S": "héllo"})), 6);
        assert_eq!(size(json!({"N": "12345"})), 4);
        assert_eq!(size(json!({"N": "-0.00120"})), 2);
        assert_eq!(size(json!({"B": "aGVsbG8="})), 5);
        assert_eq!(size(json!({"BOOL": true})), 1);
        assert_eq!(size(json!({"NULL": true})), 1);
        assert_eq!(size(json!({"SS": ["ab", "c"]})), 3);
        assert_eq!(size(json!({"L": [{"S": "ab"}, {"N": "1"}]})), 3 + 3 + 3);
        assert_eq!(size(json!({"M": {"k": {"S": "ab"}}})), 3 + 1 + 1 + 2);
        assert_eq!(size(json!({"L": []})), 3);
    }

    #[test]
    fn units_round_up_by_operation() {
        assert_eq!(write_units(0), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(4096, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(4097, false), 1.0);
        assert_eq!(read_units(10, false), 0.5);
    }

    #[test]
    fn a_partition_kind_is_its_key_up_to_the_first_hash() {
        assert_eq!(key("BULK#1#2", "x").partition().kind(), "BULK");
        assert_eq!(key("PLAIN", "x").partition().kind(), "PLAIN");
    }
}

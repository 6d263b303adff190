//! The size of a DynamoDB item as DynamoDB bills it, by the rules of the developer guide
//! ("Item sizes and formats"): each attribute's name plus its value, numbers by their digits,
//! and 3 bytes plus 1 an element for lists and maps.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::store::Item;

/// Bytes of `item`.
pub fn item_bytes(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_bytes(value))
        .sum()
}

/// Write units of one write of `item`: one per started kilobyte.
pub fn write_units(item: &Item) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let units = item_bytes(item).div_ceil(1024).max(1) as f64;
    units
}

fn number_bytes(number: &str) -> usize {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    digits.div_ceil(2) + 1
}

fn value_bytes(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(number) => number_bytes(number),
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::Ss(texts) => texts.iter().map(String::len).sum(),
        AttributeValue::Ns(numbers) => numbers.iter().map(|n| number_bytes(n)).sum(),
        AttributeValue::Bs(blobs) => blobs.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(values) => 3 + values.iter().map(|v| 1 + value_bytes(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(name, v)| 1 + name.len() + value_bytes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

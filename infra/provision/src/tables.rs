//! `AWS::DynamoDB::Table` → CreateTable (and UpdateTimeToLive).
//!
//! Keys, attribute definitions, secondary indexes, billing and TTL are carried over; encryption
//! and point-in-time recovery mean nothing to DynamoDB Local and are left out.

use aws_sdk_dynamodb::{
    Client,
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    },
};
use serde_yaml::Value;

use crate::{Error, Result};

pub(crate) async fn create(client: &Client, name: &str, properties: &Value) -> Result<()> {
    let mut request = client
        .create_table()
        .table_name(name)
        .set_key_schema(Some(key_schema(properties)?))
        .billing_mode(BillingMode::PayPerRequest);
    for definition in list(properties, "AttributeDefinitions") {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(definition, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(text(
                    definition,
                    "AttributeType",
                )?))
                .build()
                .map_err(dynamo)?,
        );
    }
    for index in list(properties, "GlobalSecondaryIndexes") {
        let projection = index.get("Projection").unwrap_or(&Value::Null);
        let mut projected = Projection::builder().projection_type(ProjectionType::from(
            projection
                .get("ProjectionType")
                .and_then(Value::as_str)
                .unwrap_or("ALL"),
        ));
        for attribute in list(projection, "NonKeyAttributes") {
            projected = projected.non_key_attributes(attribute.as_str().unwrap_or_default());
        }
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(text(index, "IndexName")?)
                .set_key_schema(Some(key_schema(index)?))
                .projection(projected.build())
                .build()
                .map_err(dynamo)?,
        );
    }
    request.send().await.map_err(dynamo)?;

    if let Some(ttl) = properties.get("TimeToLiveSpecification") {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(text(ttl, "AttributeName")?)
                    .enabled(ttl.get("Enabled").and_then(Value::as_bool).unwrap_or(true))
                    .build()
                    .map_err(dynamo)?,
            )
            .send()
            .await
            .map_err(dynamo)?;
    }
    Ok(())
}

fn key_schema(properties: &Value) -> Result<Vec<KeySchemaElement>> {
    list(properties, "KeySchema")
        .iter()
        .map(|element| {
            KeySchemaElement::builder()
                .attribute_name(text(element, "AttributeName")?)
                .key_type(KeyType::from(text(element, "KeyType")?))
                .build()
                .map_err(dynamo)
        })
        .collect()
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_sequence)
        .map_or(&[], Vec::as_slice)
}

fn text<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Template(format!("table property {key} is missing or not a string")))
}

fn dynamo<E>(error: E) -> Error
where
    aws_sdk_dynamodb::Error: From<E>,
{
    Error::Dynamo(Box::new(error.into()))
}

//! Creates the tables and queues that `infra/template.yaml` declares on DynamoDB Local and the
//! SQS emulator, so that local runs and tests use the very definitions that deploy.
//!
//! [`Template::load`] reads the template; [`Template::provision`] creates every
//! `AWS::DynamoDB::Table` and `AWS::SQS::Queue` under a name prefix (tests use a fresh prefix
//! each, so they never share state) and answers the environment the functions would get from
//! the template's `Globals.Function.Environment`, resolved to the local names and URLs.

mod mappings;
mod queues;
mod tables;
mod yaml;

pub use mappings::EventSource;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use serde_yaml::Value;

/// What can go wrong reading the template or creating what it declares.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing the template")]
    Parse(#[from] serde_yaml::Error),
    #[error("template: {0}")]
    Template(String),
    #[error("creating a table")]
    Dynamo(#[source] Box<aws_sdk_dynamodb::Error>),
    #[error("creating a queue")]
    Sqs(#[source] Box<aws_sdk_sqs::Error>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The SAM template, parsed.
#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

/// What [`Template::provision`] made: physical names by logical id, and the functions'
/// environment.
#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    pub tables: HashMap<String, String>,
    pub queues: HashMap<String, Queue>,
    pub environment: HashMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub url: String,
    pub arn: String,
}

impl Template {
    /// `infra/template.yaml` of this repository.
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self> {
        Ok(Self {
            root: serde_yaml::from_str(text)?,
        })
    }

    /// Creates every table and queue of the template, named `<prefix>-<LogicalId>`.
    pub async fn provision(
        &self,
        dynamodb: &aws_sdk_dynamodb::Client,
        sqs: &aws_sdk_sqs::Client,
        prefix: &str,
    ) -> Result<Provisioned> {
        let mut made = Provisioned::default();
        for (id, properties) in self.resources("AWS::DynamoDB::Table") {
            let name = format!("{prefix}-{id}");
            tables::create(dynamodb, &name, properties).await?;
            made.tables.insert(id.to_owned(), name);
        }
        queues::create_all(self, sqs, prefix, &mut made).await?;
        made.environment = self.environment(&made)?;
        Ok(made)
    }

    /// `(logical id, Properties)` of every resource of type `kind`, in template order.
    fn resources(&self, kind: &str) -> Vec<(&str, &Value)> {
        let Some(resources) = self.root.get("Resources").and_then(Value::as_mapping) else {
            return Vec::new();
        };
        resources
            .iter()
            .filter(|(_, resource)| resource.get("Type").and_then(Value::as_str) == Some(kind))
            .filter_map(|(id, resource)| {
                Some((
                    id.as_str()?,
                    resource.get("Properties").unwrap_or(&Value::Null),
                ))
            })
            .collect()
    }

    /// A resource's `Metadata`.
    fn metadata(&self, id: &str) -> Option<&Value> {
        self.root.get("Resources")?.get(id)?.get("Metadata")
    }

    /// The default of a template parameter.
    fn parameter(&self, name: &str) -> Option<&Value> {
        self.root.get("Parameters")?.get(name)?.get("Default")
    }

    /// `Globals.Function.Environment.Variables`, with `!Ref`s resolved to what was made.
    fn environment(&self, made: &Provisioned) -> Result<HashMap<String, String>> {
        let variables = ["Globals", "Function", "Environment", "Variables"]
            .iter()
            .try_fold(&self.root, |value, key| value.get(key))
            .and_then(Value::as_mapping);
        let Some(variables) = variables else {
            return Ok(HashMap::new());
        };
        variables
            .iter()
            .map(|(name, value)| {
                let name = name
                    .as_str()
                    .ok_or_else(|| Error::Template("variable name".into()))?;
                Ok((name.to_owned(), yaml::resolve(self, made, value)?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_template_declares_the_table_and_queues() {
        let template = Template::load(&Template::default_path()).unwrap();
        let ids = |kind| {
            template
                .resources(kind)
                .into_iter()
                .map(|(id, _)| id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("AWS::DynamoDB::Table"), ["RadarTable"]);
        assert_eq!(
            ids("AWS::SQS::Queue"),
            [
                "ItemQueue",
                "ItemDeadLetterQueue",
                "WebhookQueue",
                "WebhookDeadLetterQueue"
            ]
        );
    }

    #[test]
    fn environment_references_resolve_to_what_was_made() {
        let template = Template::parse(
            "Parameters: {Level: {Type: String, Default: debug}}\n\
             Globals: {Function: {Environment: {Variables: \
               {TABLE: !Ref T, QUEUE: !Ref Q, LEVEL: !Ref Level, FLAG: 'false'}}}}\n",
        )
        .unwrap();
        let made = Provisioned {
            tables: HashMap::from([("T".into(), "p-T".into())]),
            queues: HashMap::from([(
                "Q".into(),
                Queue {
                    url: "http://127.0.0.1:1/q".into(),
                    arn: "arn:q".into(),
                },
            )]),
            environment: HashMap::new(),
        };
        let environment = template.environment(&made).unwrap();
        assert_eq!(environment["TABLE"], "p-T");
        assert_eq!(environment["QUEUE"], "http://127.0.0.1:1/q");
        assert_eq!(environment["LEVEL"], "debug");
        assert_eq!(environment["FLAG"], "false");
    }

    #[test]
    fn unknown_references_are_errors_not_blanks() {
        let template =
            Template::parse("Globals: {Function: {Environment: {Variables: {X: !Ref Nope}}}}")
                .unwrap();
        assert!(template.environment(&Provisioned::default()).is_err());
    }
}

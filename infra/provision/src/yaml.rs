//! Resolving the intrinsic functions the local resources need: `!Ref` to a parameter (its
//! default), a table (its name) or a queue (its URL), and `!GetAtt <Queue>.Arn`.

use serde_yaml::{Value, value::TaggedValue};

use crate::{Error, Provisioned, Result, Template};

pub(crate) fn resolve(template: &Template, made: &Provisioned, value: &Value) -> Result<String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Tagged(tagged) => resolve_tagged(template, made, tagged),
        other => Err(Error::Template(format!("cannot resolve {other:?} locally"))),
    }
}

fn resolve_tagged(template: &Template, made: &Provisioned, tagged: &TaggedValue) -> Result<String> {
    let argument = tagged.value.as_str().unwrap_or_default();
    let unknown = || {
        Error::Template(format!(
            "{} {argument} names nothing made locally",
            tagged.tag
        ))
    };
    if tagged.tag == "!Ref" {
        if let Some(default) = template.parameter(argument) {
            return resolve(template, made, default);
        }
        if let Some(table) = made.tables.get(argument) {
            return Ok(table.clone());
        }
        return made
            .queues
            .get(argument)
            .map(|queue| queue.url.clone())
            .ok_or_else(unknown);
    }
    if tagged.tag == "!GetAtt" {
        let queue = argument
            .strip_suffix(".Arn")
            .and_then(|id| made.queues.get(id));
        return queue.map(|queue| queue.arn.clone()).ok_or_else(unknown);
    }
    Err(Error::Template(format!(
        "{} is not supported locally",
        tagged.tag
    )))
}

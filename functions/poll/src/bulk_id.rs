//! The `{bulk_id}` of the request path, parsed into the id it names.

use lambda_http::{Request, RequestExt};
use shared::{Error, Result};
use uuid::Uuid;

/// The path parameter's name, as `infra/template.yaml` routes it.
const PARAMETER: &str = "bulk_id";

/// The bulk the request names: API Gateway's `bulk_id` path parameter or, when the router set
/// none (cargo-lambda's local router may not), the last segment of the request path.
pub(crate) fn from_request(request: &Request) -> Result<Uuid> {
    let raw = match request
        .path_parameters_ref()
        .and_then(|parameters| parameters.first(PARAMETER))
    {
        Some(raw) => raw,
        None => last_segment(request.uri().path()),
    };
    parse(raw)
}

/// A bulk id in the hyphenated form the 202 hands out (either case); anything else is a 400
/// naming `bulk_id`. The other spellings `uuid` accepts (32 bare digits, braces, `urn:uuid:`)
/// are not ids this API ever wrote, so they are refused rather than quietly normalised.
pub(crate) fn parse(raw: &str) -> Result<Uuid> {
    const HYPHENATED_LEN: usize = 36;
    if raw.len() != HYPHENATED_LEN {
        return Err(invalid());
    }
    Uuid::try_parse(raw).map_err(|_| invalid())
}

fn invalid() -> Error {
    Error::InvalidPath(shared::FieldError::new(PARAMETER, "Must be a valid UUID"))
}

/// The last non-empty segment of `path`, so that a trailing slash does not hide the id.
fn last_segment(path: &str) -> &str {
    path.rsplit('/')
        .find(|segment| !segment.is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5f9da22e-4778-427c-b7e4-dab2a8d9d709";

    #[test]
    fn hyphenated_ids_parse_in_either_case() {
        let id: Uuid = ID.parse().unwrap();
        assert_eq!(parse(ID).unwrap(), id);
        assert_eq!(parse(&ID.to_uppercase()).unwrap(), id);
    }

    #[test]
    fn other_spellings_and_garbage_are_refused_naming_bulk_id() {
        let simple = ID.replace('-', "");
        let braced = format!("{{{ID}}}");
        let urn = format!("urn:uuid:{ID}");
        let not_hex = ID.replace('f', "g");
        for raw in ["", "bulk", "123", &simple, &braced, &urn, &not_hex] {
            let Err(Error::InvalidPath(error)) = parse(raw) else {
                panic!("{raw:?} was accepted");
            };
            assert_eq!(error.field, "bulk_id");
            assert_eq!(error.reason, "Must be a valid UUID");
        }
    }

    #[test]
    fn the_last_segment_skips_a_trailing_slash() {
        assert_eq!(last_segment(&format!("/v1/radars/bulk/{ID}")), ID);
        assert_eq!(last_segment(&format!("/v1/radars/bulk/{ID}/")), ID);
        assert_eq!(last_segment("/"), "");
        assert_eq!(last_segment(""), "");
    }
}

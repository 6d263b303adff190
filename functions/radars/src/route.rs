//! Which endpoint a request is for, from its method and path. API Gateway (and cargo-lambda's
//! router under `make dev`) only sends this function the routes `infra/template.yaml` gives
//! it; the path is read here rather than from the route key so that both look the same.

use lambda_http::{Request, http::Method};
use shared::radar::Kind;

/// One of the function's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `POST /v1/radars/companies`, `/contacts`, `/industry`.
    Create(Kind),
    /// `GET /v1/radars`.
    List,
    /// `GET /v1/radars/{radar_id}`, with the id as given.
    Get(String),
    /// `DELETE /v1/radars/{radar_id}`.
    Deactivate(String),
    /// `GET /v1/account`.
    Account,
    /// `GET /v1/radars/bulk`.
    Bulks,
}

impl Route {
    /// The route of `request`; `None` for a method and path this function does not serve.
    pub(crate) fn of(request: &Request) -> Option<Self> {
        let segments: Vec<&str> = request
            .uri()
            .path()
            .split('/')
            .filter(|segment| !segment.is_empty())
            .collect();
        // A stage or base path before `/v1` (a custom domain's mapping) is not the route's.
        let at = segments.iter().position(|&segment| segment == "v1")?;
        let method = request.method();
        Some(match (&segments[at + 1..], method) {
            (["radars"], &Method::GET) => Self::List,
            (["account"], &Method::GET) => Self::Account,
            (["radars", "bulk"], &Method::GET) => Self::Bulks,
            (["radars", "companies"], &Method::POST) => Self::Create(Kind::Company),
            (["radars", "contacts"], &Method::POST) => Self::Create(Kind::Contact),
            (["radars", "industry"], &Method::POST) => Self::Create(Kind::Industry),
            (["radars", id], &Method::GET) => Self::Get((*id).to_owned()),
            (["radars", id], &Method::DELETE) => Self::Deactivate((*id).to_owned()),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::Body;

    use super::*;

    fn route(method: &str, path: &str) -> Option<Route> {
        let request = lambda_http::http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::Empty)
            .unwrap();
        Route::of(&request)
    }

    #[test]
    fn each_path_is_its_endpoint() {
        assert_eq!(route("GET", "/v1/radars"), Some(Route::List));
        assert_eq!(route("GET", "/v1/radars/bulk"), Some(Route::Bulks));
        assert_eq!(route("GET", "/v1/account/"), Some(Route::Account));
        assert_eq!(
            route("POST", "/v1/radars/industry"),
            Some(Route::Create(Kind::Industry))
        );
        assert_eq!(
            route("DELETE", "/prod/v1/radars/abc"),
            Some(Route::Deactivate("abc".into()))
        );
        assert_eq!(
            route("GET", "/v1/radars/abc"),
            Some(Route::Get("abc".into()))
        );
    }

    #[test]
    fn other_methods_and_paths_are_not_served() {
        assert_eq!(route("POST", "/v1/radars/abc"), None);
        assert_eq!(route("DELETE", "/v1/radars"), None);
        assert_eq!(route("GET", "/v1/radars/bulk/abc/x"), None);
        assert_eq!(route("GET", "/radars"), None);
    }
}

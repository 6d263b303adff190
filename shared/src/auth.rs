//! Request authentication: the `x-api-key` header, looked up by its digest (see
//! [`crate::credentials`] for the key values themselves).

use lambda_http::http::HeaderMap;

use crate::{
    Error, Result,
    credentials::ApiKey,
    store::{Store, accounts::Account},
};

/// The header that carries the API key.
pub const HEADER: &str = "x-api-key";

/// The account behind the request's `x-api-key`. A missing, unknown or revoked key, or a key
/// of a deactivated account, is [`Error::Unauthorized`]: the caller cannot tell which.
pub async fn authenticate(store: &Store, headers: &HeaderMap) -> Result<Account> {
    let key = headers
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|key| !key.is_empty())
        .ok_or(Error::Unauthorized)?;
    let account = store.account_for_key(&ApiKey::new(key).digest()).await?;
    account.ok_or(Error::Unauthorized)
}

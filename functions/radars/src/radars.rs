//! `GET /v1/radars/{radar_id}`, `DELETE /v1/radars/{radar_id}` and `GET /v1/radars`: the
//! account's radars, read from the account index ([`shared::store::index`]). One read token
//! each.

use lambda_http::{Body, Response};
use shared::{
    Error, Result,
    api::{DEACTIVATED, Listed, Success},
    rate_limit::Bucket,
};
use uuid::Uuid;

use crate::{Caller, Deps, query::Query, respond};

/// One radar of the caller's. Unknown, malformed and another account's ids get one 404.
pub(crate) async fn get(deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>> {
    let admission = caller.spend(deps, Bucket::Read).await?;
    let radar_id = radar_id(id)?;
    let radar = deps
        .store
        .get_radar(caller.account.id, radar_id)
        .await?
        .ok_or(Error::RadarNotFound)?;
    let body = Success::new(200, "Radar retrieved successfully", radar, caller.now);
    Ok(respond(200, &body, &admission))
}

/// Deactivates one radar of the caller's; deactivating it again answers the same radar.
pub(crate) async fn deactivate(deps: &Deps, caller: &Caller, id: &str) -> Result<Response<Body>> {
    let admission = caller.spend(deps, Bucket::Read).await?;
    let radar_id = radar_id(id)?;
    let radar = deps
        .store
        .deactivate_radar(caller.account.id, radar_id, caller.now)
        .await?
        .ok_or(Error::RadarNotFound)?;
    let body = Success::new(200, DEACTIVATED, radar, caller.now);
    Ok(respond(200, &body, &admission))
}

/// A page of the caller's radars, newest first.
pub(crate) async fn list(deps: &Deps, caller: &Caller, query: &Query) -> Result<Response<Body>> {
    let filter = query.radar_filter()?;
    let page = query.page()?;
    let admission = caller.spend(deps, Bucket::Read).await?;
    let listed = deps
        .store
        .list_radars(caller.account.id, &filter, page)
        .await?;
    tracing::info!(
        radars = listed.radars.len(),
        more = listed.next.is_some(),
        "radars listed"
    );
    let body = Listed::new(
        "Radars retrieved successfully",
        listed.radars,
        listed.next.map(shared::store::index::Cursor::encode),
        caller.now,
    );
    Ok(respond(200, &body, &admission))
}

/// A radar id as this API hands them out (hyphenated, either case); anything else names no
/// radar, which is a 404 like an unknown id.
fn radar_id(raw: &str) -> Result<Uuid> {
    const HYPHENATED_LEN: usize = 36;
    if raw.len() != HYPHENATED_LEN {
        return Err(Error::RadarNotFound);
    }
    Uuid::try_parse(raw).map_err(|_| Error::RadarNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyphenated_uuids_name_a_radar() {
        let id = Uuid::now_v7();
        assert_eq!(radar_id(&id.to_string()).unwrap(), id);
        assert_eq!(radar_id(&id.to_string().to_uppercase()).unwrap(), id);
        for other in [id.simple().to_string(), format!("{{{id}}}"), "x".into()] {
            assert!(
                matches!(radar_id(&other), Err(Error::RadarNotFound)),
                "{other}"
            );
        }
    }
}

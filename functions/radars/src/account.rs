//! `GET /v1/account`: the balance, the radar counts and a month's usage. Two reads beyond
//! authentication: the account's record (already read to authenticate) and one `Query` of its
//! usage records ([`shared::store::usage`]). One read token.

use lambda_http::{Body, Response};
use shared::{
    Result,
    api::{AccountData, MonthlyUsage, RadarCounts, Success},
    rate_limit::Bucket,
};

use crate::{Caller, Deps, query::Query, respond};

pub(crate) async fn show(deps: &Deps, caller: &Caller, query: &Query) -> Result<Response<Body>> {
    let month = query.month(caller.now)?;
    let admission = caller.spend(deps, Bucket::Read).await?;
    let usage = deps.store.usage(caller.account.id).await?;
    let counts = usage.month(&month);
    let data = AccountData {
        account_id: caller.account.id,
        balance: caller.account.credits,
        radars: RadarCounts {
            active: usage.active(),
            inactive: usage.inactive(),
        },
        usage: MonthlyUsage {
            month,
            radars_activated: counts.activated,
            radars_deactivated: counts.deactivated,
            radars_failed: counts.failed,
        },
    };
    let body = Success::new(200, "Account retrieved successfully", data, caller.now);
    Ok(respond(200, &body, &admission))
}

//! `POST /v1/radars/companies`, `/contacts` and `/industry`: one radar, created synchronously.
//!
//! Validation, normalisation, identity and cost are a bulk item's ([`SingleCreate::parse`]
//! runs the item's own parse; [`Radar::identity`] and [`Radar::cost`] are the same calls the
//! processor makes), and so are the refusals' words ([`Refusal`]). The radar, its charge and
//! the month's count are one transaction ([`shared::store::single`]). One write token.
//!
//! [`Radar::identity`]: shared::radar::Radar::identity
//! [`Radar::cost`]: shared::radar::Radar::cost

use lambda_http::{Body, Response};
use shared::{
    Error, Result,
    api::{CREATED, RadarObject, Refusal, Success},
    clock,
    radar::Kind,
    rate_limit::Bucket,
    single::SingleCreate,
    store::single::{Single, SingleRadar},
    webhook_url::WebhookUrl,
};
use uuid::Uuid;

use crate::{Caller, Deps, respond};

pub(crate) async fn create(
    deps: &Deps,
    caller: &Caller,
    kind: Kind,
    body: &Body,
) -> Result<Response<Body>> {
    let bytes: &[u8] = match body {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    let create = SingleCreate::parse(bytes, kind, deps.config.webhooks)
        .map_err(|errors| Error::Refused(Refusal::Invalid(errors)))?;
    let admission = caller.spend(deps, Bucket::Write).await?;

    let radar = &create.radar;
    // Time-ordered, so that an account's radars list newest first by id.
    let radar_id = Uuid::now_v7();
    let data = radar.data(radar_id, clock::rfc3339(caller.now), create.custom_fields);
    let text = serde_json::to_string(&data).map_err(|e| Error::Serialize("radar data", e))?;
    let identity = radar.identity();
    let webhook_url = create.webhook_url.as_ref().map(WebhookUrl::as_str);
    let single = SingleRadar {
        radar_id,
        identity: &identity,
        cost: radar.cost(),
        data: &text,
        webhook_url,
    };
    match deps
        .store
        .create_single(caller.account.id, &single, caller.now)
        .await?
    {
        Single::Created => {
            tracing::info!(%radar_id, radar_type = %data.radar_type, "radar created");
            let object = RadarObject::new(data, webhook_url.map(str::to_owned), None);
            Ok(respond(
                201,
                &Success::new(201, CREATED, object, caller.now),
                &admission,
            ))
        }
        Single::Conflict { radar_id } => Err(Error::Refused(Refusal::Conflict {
            field: identity.field,
            radar_id,
        })),
        Single::InsufficientCredits => Err(Error::Refused(Refusal::InsufficientCredits {
            cost: radar.cost(),
        })),
    }
}

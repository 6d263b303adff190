//! One radar of an account, exactly as `GET /v1/radars/{radar_id}` shows it to the customer.

use serde_json::Value;
use uuid::Uuid;

use crate::{Deps, Error, Result};

pub(crate) async fn show(deps: &Deps, account_id: Uuid, radar_id: Uuid) -> Result<Value> {
    let radar = deps
        .store
        .get_radar(account_id, radar_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("radar {radar_id} of account {account_id}")))?;
    serde_json::to_value(&radar).map_err(|e| shared::Error::Serialize("radar", e).into())
}

//! A webhook destination as the dispatcher sees it (its circuit, its slots in flight, its
//! recent failures), and the operator's reset.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::{
    clock,
    destination::{self, Circuit, Destination},
};

use crate::{Deps, Error, Result};

pub(crate) async fn show(deps: &Deps, host: &str) -> Result<Value> {
    let name = destination::parse(host).map_err(Error::Usage)?;
    let state = deps.store.get_destination(&name).await?;
    Ok(describe(deps, &name, &state, Utc::now()))
}

/// Closes the circuit and forgets the failures, the pace and the slots held: what waits for
/// the destination goes at its next look. For an endpoint the customer says is fixed.
pub(crate) async fn reset(deps: &Deps, host: &str) -> Result<Value> {
    let name = destination::parse(host).map_err(Error::Usage)?;
    let now = Utc::now();
    let ((), state) = deps
        .store
        .change_destination(&name, now, Destination::reset)
        .await?;
    Ok(describe(deps, &name, &state, now))
}

fn describe(deps: &Deps, name: &str, state: &Destination, now: DateTime<Utc>) -> Value {
    let limits = deps.config.dispatch.destinations;
    let (until, trips) = match state.circuit {
        Circuit::Closed => (None, 0),
        Circuit::Open { until, trips } | Circuit::Probing { until, trips, .. } => {
            (Some(clock::rfc3339(until)), trips)
        }
    };
    json!({
        "destination": name,
        "circuit": {
            "state": state.circuit.as_str(),
            "until": until,
            "failed_probes": trips.saturating_sub(1),
        },
        "failures_in_a_row": state.failures,
        "in_flight": state.in_flight(now),
        "paced_until": state.paced_until.filter(|at| *at > now).map(clock::rfc3339),
        "latency_ms": state.latency_ms,
        "last_success": state.last_success.map(clock::rfc3339),
        "recent_failures": state.recent.iter().map(|failure| json!({
            "at": clock::rfc3339(failure.at),
            "what": failure.what,
        })).collect::<Vec<_>>(),
        "limits": {
            "in_flight": limits.in_flight,
            "per_second": limits.per_second,
            "failures_to_open": limits.failures_to_open,
            "cool_down_seconds": limits.cool_down.as_secs(),
        },
    })
}

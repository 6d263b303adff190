//! `radarctl destination show` and `reset`, on a destination the dispatcher's breaker opened.

use std::time::Duration;

use chrono::Utc;
use shared::destination::{Ask, Health};
use uuid::Uuid;

use crate::{deps, radarctl};

#[tokio::test]
async fn a_destination_shows_its_open_circuit_and_failures_until_an_operator_resets_it() {
    let (_env, deps) = deps().await;
    let limits = deps.config.dispatch.destinations;
    let now = Utc::now();
    // What the dispatcher leaves after a run of timeouts, with one batch still in flight.
    let (failing, holding) = (Uuid::new_v4(), Uuid::new_v4());
    deps.store
        .change_destination("hooks.example.com:443", now, |state| {
            let ask = [Ask { paced: false }; 2];
            state.admit(failing, &ask, now, &limits, Duration::from_secs(60));
            state.admit(holding, &ask, now, &limits, Duration::from_secs(60));
            let timeouts = vec![
                Health::Failed {
                    what: "timed out".into()
                };
                5
            ];
            state.release(failing, &timeouts, now, &limits);
        })
        .await
        .unwrap();

    let shown = radarctl(&deps, &["destination", "show", "Hooks.Example.com"])
        .await
        .unwrap();

    assert_eq!(shown["destination"], "hooks.example.com:443");
    assert_eq!(shown["circuit"]["state"], "open");
    assert!(shown["circuit"]["until"].is_string());
    assert_eq!(shown["failures_in_a_row"], 5);
    assert_eq!(shown["in_flight"], 2);
    assert_eq!(shown["recent_failures"].as_array().unwrap().len(), 5);
    assert_eq!(shown["recent_failures"][0]["what"], "timed out");
    assert_eq!(shown["limits"]["in_flight"], 10);

    let reset = radarctl(
        &deps,
        &["destination", "reset", "https://hooks.example.com/webhooks"],
    )
    .await
    .unwrap();
    assert_eq!(reset["circuit"]["state"], "closed");
    assert_eq!(reset["in_flight"], 0);
    let stored = deps
        .store
        .get_destination("hooks.example.com:443")
        .await
        .unwrap();
    assert_eq!(stored.failures, 0);
    assert!(stored.leases.is_empty() && stored.recent.is_empty());
}

#[tokio::test]
async fn a_destination_never_seen_shows_closed_and_a_bad_name_is_a_usage_error() {
    let (_env, deps) = deps().await;

    let shown = radarctl(&deps, &["destination", "show", "127.0.0.1:9999"])
        .await
        .unwrap();
    assert_eq!(shown["circuit"]["state"], "closed");
    assert_eq!(shown["in_flight"], 0);

    let refused = radarctl(&deps, &["destination", "show", "not a host"]).await;
    assert!(
        matches!(refused, Err(radarctl::Error::Usage(_))),
        "{refused:?}"
    );
}

use std::{net::IpAddr, sync::Arc};

use dispatcher::resolver::{HostLookup, Lookup, SystemLookup};
use shared::store::deliveries::DeliveryState;

use crate::helpers::spawn_app_with;

/// A resolver that answers every name with one address, as a rebinding attacker's DNS would.
#[derive(Debug)]
struct Answers(IpAddr);

impl HostLookup for Answers {
    fn lookup(&self, _host: &str) -> Lookup {
        let address = self.0;
        Box::pin(async move { Ok(vec![address]) })
    }
}

const STRICT: &[(&str, &str)] = &[("RADAR_ALLOW_INSECURE_WEBHOOKS", "false")];

#[tokio::test]
async fn internal_destinations_are_refused_when_insecure_mode_is_off() {
    let app = spawn_app_with(STRICT, Arc::new(SystemLookup)).await;
    let port = app.receiver.port;
    for url in [
        format!("https://127.0.0.1:{port}/hooks"),
        format!("http://127.0.0.1:{port}/hooks"),
        "https://10.0.0.1/hooks".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        format!("https://[::1]:{port}/hooks"),
        format!("https://[::ffff:127.0.0.1]:{port}/hooks"),
        format!("https://localhost:{port}/hooks"),
        // The spellings of loopback that URL parsers turn into 127.0.0.1: decimal, hex,
        // octal, short forms; and the IPv6 forms that embed it.
        format!("https://2130706433:{port}/hooks"),
        format!("https://0x7f.0.0.1:{port}/hooks"),
        format!("https://0177.0.0.1:{port}/hooks"),
        format!("https://127.1:{port}/hooks"),
        format!("https://[::ffff:7f00:1]:{port}/hooks"),
        format!("https://[0:0:0:0:0:ffff:127.0.0.1]:{port}/hooks"),
        format!("https://[::127.0.0.1]:{port}/hooks"),
        format!("https://[64:ff9b::7f00:1]:{port}/hooks"),
        format!("https://LocalHost.:{port}/hooks"),
        format!("https://hooks.localhost:{port}/hooks"),
        "https://0xa9fea9fe/latest/meta-data".to_owned(),
        "https://[fd00:ec2::254]/latest/meta-data".to_owned(),
    ] {
        let seeded = app.seed_to(&url, 1).await;

        let report = app.dispatch(&[seeded.item(0)]).await;

        assert_eq!(report.given_up, [seeded.update_ids[0]], "{url}");
        let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
        assert_eq!(delivery.state, DeliveryState::Failed, "{url}");
        let error = delivery.log[0].error.clone().unwrap_or_default();
        assert!(error.starts_with("refused"), "{url}: {error}");
    }
    assert_eq!(app.receiver.count(), 0, "nothing reached the receiver");
}

#[tokio::test]
async fn a_host_name_that_resolves_to_an_internal_address_is_refused() {
    for address in [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "::",
        "::1",
        "fd00:ec2::254",
        "fe80::1",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::",
        "100.100.100.200",
    ] {
        let lookup = Arc::new(Answers(address.parse().unwrap()));
        let app = spawn_app_with(STRICT, lookup).await;
        let url = format!("https://hooks.example.com:{}/hooks", app.receiver.port);
        let seeded = app.seed_to(&url, 1).await;

        let report = app.dispatch(&[seeded.item(0)]).await;

        assert_eq!(report.given_up, [seeded.update_ids[0]], "{address}");
        let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
        let error = delivery.log[0].error.clone().unwrap_or_default();
        assert!(
            error.contains("resolves to no address"),
            "{address}: {error}"
        );
        assert_eq!(app.receiver.count(), 0, "{address}");
    }
}

#[tokio::test]
async fn local_development_reaches_a_loopback_receiver_by_name() {
    let lookup = Arc::new(Answers("127.0.0.1".parse().unwrap()));
    let app = spawn_app_with(&[], lookup).await;
    let url = format!("http://localhost:{}/hooks", app.receiver.port);
    let seeded = app.seed_to(&url, 1).await;

    let report = app.dispatch(&[seeded.item(0)]).await;

    assert_eq!(report.delivered, [seeded.update_ids[0]]);
    assert_eq!(app.receiver.count(), 1);
}

#[tokio::test]
async fn a_bulk_accepted_before_the_api_hosts_were_set_is_refused_at_send_time() {
    // The receiver stands in for the API: reachable, and answering 200 if anything came.
    let app = spawn_app_with(&[("RADAR_API_HOSTS", "127.0.0.1")], Arc::new(SystemLookup)).await;
    let seeded = app.seed(1).await;

    let report = app.dispatch(&[seeded.item(0)]).await;

    assert_eq!(report.given_up, [seeded.update_ids[0]]);
    let delivery = app.delivery(&seeded, seeded.update_ids[0]).await;
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert_eq!(
        delivery.log[0].error.as_deref(),
        Some("refused: Webhook URL must not point to this API")
    );
    assert_eq!(app.receiver.count(), 0, "nothing reached the API");
}

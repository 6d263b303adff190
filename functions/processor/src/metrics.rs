//! The processor's metrics (see [`shared::metrics`]): outcomes as they are decided, never
//! again on a redelivery that finds them decided.

use shared::api::Refusal;

pub(crate) fn created() {
    metrics::counter!("ItemsCreated").increment(1);
}

pub(crate) fn failed(refusal: &Refusal) {
    metrics::counter!("ItemsFailed", "Code" => refusal.code().to_string()).increment(1);
    if matches!(
        refusal,
        Refusal::Exhausted {
            dead_lettered: true
        }
    ) {
        metrics::counter!("DeadLettersFinalised").increment(1);
    }
}

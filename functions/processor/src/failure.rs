//! The processor's one error type: every transient failure of an item. A 400, 402 or 409 is not
//! an error here but an outcome ([`shared::api::Refusal`]); anything in this enum makes SQS
//! deliver the item again, and on its last delivery it is recorded as a 500 instead.

use std::sync::Arc;

use crate::faults::Injected;

/// A transient failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error(transparent)]
    Store(#[from] shared::Error),
    /// The creating transaction of the item's batch failed.
    #[error(transparent)]
    Batch(Arc<shared::Error>),
    #[error("the creating transaction kept meeting concurrent ones")]
    Contended,
    #[error(transparent)]
    Injected(#[from] Injected),
}

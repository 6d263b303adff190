//! A fault-injection point for tests: stop handling a message right after a given step, as a
//! crash there would. Production builds it empty ([`Faults::default`]); nothing reads the
//! environment for it, so it cannot be switched on in a deployed function.

/// The steps after which a message's handling can be cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The creating write is about to be sent: failing here is DynamoDB refusing it.
    Creating,
    /// A prepaid item's radar is stored; its outcome is not yet.
    RadarStored,
    /// The item's outcome is stored (created, charged and recorded; or recorded as a failure).
    Decided,
    /// The item is tallied towards its bulk.
    Tallied,
    /// The bulk's completion is fixed (only for the item that completed it).
    Completed,
    /// The batch's events are on the webhook queue; the messages are not acknowledged yet.
    HandedOff,
}

/// Where, if anywhere, handling stops short.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    crash_after: Option<Step>,
    contend: bool,
}

/// Handling stopped after a step, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("fault injected after step {0:?}")]
pub struct Injected(pub Step);

impl Faults {
    /// Every message stops right after `step`.
    pub fn crash_after(step: Step) -> Self {
        Self {
            crash_after: Some(step),
            contend: false,
        }
    }

    /// Every creating transaction meets concurrent ones until it gives up, as under a hot
    /// account on DynamoDB (which DynamoDB Local never shows): nothing is written.
    pub fn contend() -> Self {
        Self {
            crash_after: None,
            contend: true,
        }
    }

    pub(crate) fn contended(self) -> bool {
        self.contend
    }

    pub(crate) fn check(self, step: Step) -> Result<(), Injected> {
        match self.crash_after {
            Some(at) if at == step => Err(Injected(step)),
            _ => Ok(()),
        }
    }
}

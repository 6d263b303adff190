//! The chaos run at a size `make test` can afford, the fault proxy's faults as the AWS SDK meets
//! them, and a webhook outage.

mod outage;
mod proxy;
mod quick;

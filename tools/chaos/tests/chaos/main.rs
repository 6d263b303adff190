//! The chaos run at a size `make test` can afford, the fault proxy's faults and its contention
//! model as the AWS SDK meets them, and a webhook outage.

mod contention;
mod outage;
mod proxy;
mod quick;

//! The chaos run at a size `make test` can afford, the fault proxy's faults and its contention
//! model as the AWS SDK meets them, a webhook outage, and the misbehaving endpoints.

mod contention;
mod endpoint;
mod outage;
mod proxy;
mod quick;

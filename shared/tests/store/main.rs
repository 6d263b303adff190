//! State access against DynamoDB Local: the parts of `shared::store` that the functions lean on
//! beyond what the submit tests already drive.

mod accounts;
mod destinations;
mod rate;
mod secrets;

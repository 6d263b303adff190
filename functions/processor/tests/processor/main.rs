//! The processor against DynamoDB Local and the SQS emulator, its handler called directly with
//! the SQS events Lambda would deliver.

mod conflicts;
mod funding;
mod gating;
mod helpers;
mod outcomes;
mod redelivery;
mod scale;

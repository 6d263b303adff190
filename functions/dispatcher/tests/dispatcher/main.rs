//! The dispatcher against DynamoDB Local, the SQS emulator and a real HTTP receiver on
//! 127.0.0.1, its handler called directly with the SQS events Lambda would deliver, and time
//! handed in so that a schedule of hours runs in seconds.

mod completion;
mod delivery;
mod destinations;
mod duplicates;
mod exhaustion;
mod helpers;
mod scale;
mod ssrf;

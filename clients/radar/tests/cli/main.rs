//! The `radar` command line against the in-process stack (`devstack::local`: the five
//! functions behind a real HTTP API and the event source mapping, on DynamoDB Local and the
//! SQS emulator), over real HTTP.

mod faults;
mod listen;
mod resources;
mod submit;
mod support;

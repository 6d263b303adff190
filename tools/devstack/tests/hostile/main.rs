//! The whole API in this process (the five functions, the event source bridge, a webhook
//! receiver) on the emulators, driven over real HTTP as a hostile or careless client would:
//! the OpenAPI document checked against it, bad input, and what secrets and personal data the
//! logs and the table give away.

mod bad_input;
mod leaks;
mod local;
mod openapi;
mod resources;

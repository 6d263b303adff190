//! The client's one error type. An answer in the API's error envelope keeps the envelope, so a
//! caller can show its `errors[]` as the API wrote them.

use std::{fmt, path::PathBuf};

use shared::api::ErrorBody;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API refused the request: a 4xx in the documented envelope.
    #[error("{status} {}", Described(.body))]
    Api { status: u16, body: Box<ErrorBody> },
    /// An answer the client cannot read as the API documents it.
    #[error("unexpected answer {status}: {body}")]
    Unexpected { status: u16, body: String },
    /// The request never got an answer.
    #[error("could not reach the API: {0}")]
    Transport(#[source] reqwest::Error),
    /// Retried as often as [`crate::Retry`] allows, without success.
    #[error("gave up after {tries} tries; the last: {last}")]
    GaveUp { tries: u32, last: Box<Error> },
    /// A setting the client cannot work with.
    #[error("{0}")]
    Config(String),
    /// An input file that cannot be read at all (a row that cannot be read is
    /// [`crate::input::Rejected`] instead).
    #[error("{path}: {reason}")]
    Input { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not serialize {0}: {1}")]
    Serialize(&'static str, #[source] serde_json::Error),
    #[error("could not write the results: {0}")]
    Csv(#[from] csv::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// An envelope as one line: its message, then each `field: reason`.
struct Described<'a>(&'a ErrorBody);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.message)?;
        for error in &self.0.errors {
            write!(f, "; {}: {}", error.field, error.reason)?;
        }
        Ok(())
    }
}

//! The small file that remembers what was submitted: each bulk's id, the file it came from
//! (path and digest) and the input line of each of its items. `watch` and `results` read it
//! to resume and to name each result's input row; `retry` reads it to find the rows to send
//! again. It is written after every accepted bulk, so a crash loses none.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Error, Result};

/// Everything one state file records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub bulks: Vec<Submitted>,
}

/// One accepted bulk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub bulk_id: Uuid,
    /// The input file, as it was named when it was submitted.
    pub source: PathBuf,
    /// The SHA-256 of the input file when it was read.
    pub digest: String,
    /// The input line of each item, in item order.
    pub lines: Vec<usize>,
    pub webhook_url: String,
    pub idempotency_key: String,
}

impl State {
    /// The state file at `path`; an empty state when there is none yet.
    pub fn load(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Input {
                path: path.to_owned(),
                reason: format!("not a radar state file: {e}"),
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(Error::io(path)(error)),
        }
    }

    /// Writes the state to `path` whole or not at all: a new file, renamed over the old one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::Serialize("the state", e))?;
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        std::fs::write(&temporary, json).map_err(Error::io(&temporary))?;
        std::fs::rename(&temporary, path).map_err(Error::io(path))
    }

    /// Records an accepted bulk, replacing an earlier record of the same id (a replay).
    pub fn record(&mut self, submitted: Submitted) {
        self.bulks.retain(|bulk| bulk.bulk_id != submitted.bulk_id);
        self.bulks.push(submitted);
    }

    pub fn find(&self, bulk_id: Uuid) -> Option<&Submitted> {
        self.bulks.iter().find(|bulk| bulk.bulk_id == bulk_id)
    }
}

/// The state file that goes with a results file: `out.csv` → `out.state.json`; without one,
/// `radar-state.json` in the working directory.
pub fn beside(results: Option<&Path>) -> PathBuf {
    results.map_or_else(
        || PathBuf::from("radar-state.json"),
        |path| path.with_extension("state.json"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_loads_back_and_a_replay_replaces_its_record() {
        let dir = std::env::temp_dir().join(format!("radar-state-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.state.json");
        assert_eq!(State::load(&path).unwrap(), State::default());

        let bulk = Submitted {
            bulk_id: Uuid::new_v4(),
            source: "in.csv".into(),
            digest: "d".into(),
            lines: vec![2, 3],
            webhook_url: "https://h.example/".into(),
            idempotency_key: "k".into(),
        };
        let mut state = State::default();
        state.record(bulk.clone());
        state.record(bulk.clone());
        state.save(&path).unwrap();

        let loaded = State::load(&path).unwrap();
        assert_eq!(loaded.bulks, std::slice::from_ref(&bulk));
        assert_eq!(loaded.find(bulk.bulk_id), Some(&bulk));
        assert_eq!(
            beside(Some(Path::new("x/out.csv"))),
            Path::new("x/out.state.json")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

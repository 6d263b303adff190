//! Where a command's lines and progress go: a terminal gets progress bars, drawn on stderr,
//! with lines printed above them; anything else (a pipe, a file, a test) gets plain lines.

use std::{
    io::{IsTerminal, Write},
    sync::Mutex,
};

use indicatif::{MultiProgress, ProgressDrawTarget};
use serde::Serialize;

use crate::Failure;

pub struct Output {
    sink: Mutex<Box<dyn Write + Send>>,
    bars: Option<MultiProgress>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("bars", &self.bars.is_some())
            .finish_non_exhaustive()
    }
}

impl Output {
    /// Standard output, with progress bars when it is a terminal.
    pub fn for_stdout() -> Self {
        let terminal = std::io::stdout().is_terminal();
        Self {
            sink: Mutex::new(Box::new(std::io::stdout())),
            bars: terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// Plain lines into `sink`, never a progress bar.
    pub fn plain(sink: impl Write + Send + 'static) -> Self {
        Self {
            sink: Mutex::new(Box::new(sink)),
            bars: None,
        }
    }

    /// The progress bars, on a terminal.
    pub fn bars(&self) -> Option<&MultiProgress> {
        self.bars.as_ref()
    }

    /// One line.
    pub fn line(&self, text: impl std::fmt::Display) {
        let text = text.to_string();
        if let Some(bars) = &self.bars {
            // Printed above the bars, which are drawn again below it.
            let _ = bars.println(&text);
        } else {
            let mut sink = self
                .sink
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // A closed pipe (`radar ... | head`) is not worth a panic.
            let _ = writeln!(sink, "{text}");
            let _ = sink.flush();
        }
    }

    /// A response body, as pretty JSON.
    pub fn json(&self, body: &impl Serialize) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(body)
            .map_err(|e| Failure::Usage(format!("could not show the answer: {e}")))?;
        self.line(text);
        Ok(())
    }
}

//! `webhook listen`: a local receiver that verifies every request's signature, prints one line
//! per event, and appends the verified bodies to a JSON Lines file when asked.

use std::{
    fs::OpenOptions,
    io::Write,
    path::Path,
    sync::{Arc, Mutex},
};

use radar_client::webhook::{self, Heard, Verifier};
use tokio::net::TcpListener;

use crate::{Failure, Output, cli::ListenArgs};

pub async fn listen(args: &ListenArgs, output: &Output) -> Result<(), Failure> {
    let verifier = Verifier::new(&args.secret)?;
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .await
        .map_err(|e| Failure::Usage(format!("127.0.0.1:{}: {e}", args.port)))?;
    output.line(format!(
        "listening on http://127.0.0.1:{}/ (Ctrl-C to stop)",
        args.port
    ));
    tokio::select! {
        served = serve(listener, verifier, args.jsonl.as_deref(), output) => served,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// Serves `listener`, printing to `output` and appending to `jsonl`.
pub async fn serve(
    listener: TcpListener,
    verifier: Verifier,
    jsonl: Option<&Path>,
    output: &Output,
) -> Result<(), Failure> {
    let file = match jsonl {
        Some(path) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };
    let file = Arc::new(Mutex::new(file));
    let (lines, mut printed) = tokio::sync::mpsc::unbounded_channel::<String>();
    let receiving = webhook::listen(listener, verifier, move |heard| {
        let line = match heard {
            Heard::Event {
                webhook_id,
                bytes,
                body,
            } => {
                let mut file = file
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(file) = file.as_mut() {
                    let mut record = bytes.to_vec();
                    record.push(b'\n');
                    if let Err(error) = file.write_all(&record) {
                        let _ = lines.send(format!("could not append to the JSONL file: {error}"));
                    }
                }
                webhook::describe(&webhook_id, &body)
            }
            Heard::Refused { reason } => format!("refused with 400: {reason}"),
        };
        let _ = lines.send(line);
    });
    let printing = async {
        while let Some(line) = printed.recv().await {
            output.line(line);
        }
    };
    tokio::select! {
        received = receiving => received.map_err(Failure::from),
        () = printing => Ok(()),
    }
}

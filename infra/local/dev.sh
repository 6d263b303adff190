#!/usr/bin/env bash
# make dev: the whole API on this machine. Run through services.sh, which starts DynamoDB
# Local and the SQS emulator first and stops them when this script ends.
#
#   1. installs cargo-lambda (from PyPI, into .local/venv) the first time;
#   2. builds the functions and devstack;
#   3. devstack: creates the template's tables and queues, seeds the development account
#      ($RADAR_DEV_API_KEY or a new key, $RADAR_DEV_CREDITS credits), writes .local/dev.env
#      and .local/functions.env, runs the webhook receiver on 127.0.0.1:${RADAR_RECEIVER_PORT}
#      and moves queue messages into the processor and dispatcher (the event source mapping);
#   4. cargo lambda watch serves the API on 127.0.0.1:${RADAR_API_PORT}, routed by the
#      [workspace.metadata.lambda.watch.router] table of Cargo.toml.
# Ctrl-C stops everything it started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="${RADAR_LOCAL_DIR:-$ROOT/.local}"
VENV="$LOCAL/venv"
CARGO_LAMBDA_VERSION="1.9.2"
STAMP="$LOCAL/.stamp-cargo-lambda"
export RADAR_API_PORT="${RADAR_API_PORT:-9000}"
export RADAR_RECEIVER_PORT="${RADAR_RECEIVER_PORT:-9999}"

say() { echo "dev.sh: $*" >&2; }
die() { echo "dev.sh: ERROR: $*" >&2; exit 1; }

cd "$ROOT"
[[ -x "$VENV/bin/pip" ]] || die "no virtualenv at $VENV (services.sh should have made it)"
if [[ ! -f "$STAMP" || "$(<"$STAMP")" != "$CARGO_LAMBDA_VERSION" || ! -x "$VENV/bin/cargo-lambda" ]]; then
  say "installing cargo-lambda $CARGO_LAMBDA_VERSION into ${VENV#"$ROOT"/}"
  "$VENV/bin/pip" install --quiet "cargo-lambda==$CARGO_LAMBDA_VERSION" || die "pip install cargo-lambda failed"
  echo "$CARGO_LAMBDA_VERSION" >"$STAMP"
fi
export PATH="$VENV/bin:$PATH"

say "building the functions and devstack"
cargo build --locked -p submit -p processor -p dispatcher -p poll -p devstack

rm -f "$LOCAL/functions.env" "$LOCAL/dev.env"
PIDS=()
stop() {
  trap - EXIT INT TERM
  ((${#PIDS[@]})) && kill -TERM "${PIDS[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/target/debug/devstack" --dir "$LOCAL" &
PIDS+=($!)
for _ in $(seq 1 120); do
  [[ -f "$LOCAL/functions.env" ]] && break
  kill -0 "${PIDS[0]}" 2>/dev/null || die "devstack stopped before the stack was ready"
  sleep 0.5
done
[[ -f "$LOCAL/functions.env" ]] || die "devstack did not write .local/functions.env"

cargo lambda watch -A 127.0.0.1 -P "$RADAR_API_PORT" --env-file "$LOCAL/functions.env" &
PIDS+=($!)

# Whichever ends first ends the session.
wait -n "${PIDS[@]}"

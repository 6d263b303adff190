#!/usr/bin/env bash
# make dev: the whole API on this machine. Run through services.sh, which starts DynamoDB
# Local and the SQS emulator first and stops them when this script ends.
#
#   1. (services.sh has installed the emulators and cargo-lambda into .local/ the first time);
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
# Where dev.env and functions.env go (the end-to-end test uses a directory of its own).
OUT="${RADAR_DEV_DIR:-$LOCAL}"
export RADAR_API_PORT="${RADAR_API_PORT:-9000}"
export RADAR_RECEIVER_PORT="${RADAR_RECEIVER_PORT:-9999}"

say() { echo "dev.sh: $*" >&2; }
die() { echo "dev.sh: ERROR: $*" >&2; exit 1; }

cd "$ROOT"
[[ -x "$VENV/bin/cargo-lambda" ]] || die "no cargo-lambda in $VENV (services.sh installs it: run make dev)"
export PATH="$VENV/bin:$PATH"

say "building the functions and devstack"
# One package at a time, as `cargo lambda watch` runs each (`cargo run --bin <function>`), so
# that each resolves the same features and its first request does not wait for a rebuild.
for package in submit processor dispatcher poll devstack; do
  cargo build --locked --quiet -p "$package"
done

mkdir -p "$OUT"
rm -f "$OUT/functions.env" "$OUT/dev.env"
PIDS=()
stop() {
  trap - EXIT INT TERM
  ((${#PIDS[@]})) && kill -TERM "${PIDS[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${CARGO_TARGET_DIR:-$ROOT/target}/debug/devstack" --dir "$OUT" &
PIDS+=($!)
for _ in $(seq 1 120); do
  [[ -f "$OUT/functions.env" ]] && break
  kill -0 "${PIDS[0]}" 2>/dev/null || die "devstack stopped before the stack was ready"
  sleep 0.5
done
[[ -f "$OUT/functions.env" ]] || die "devstack did not write $OUT/functions.env"

cargo lambda watch -A 127.0.0.1 -P "$RADAR_API_PORT" --env-file "$OUT/functions.env" &
PIDS+=($!)

# Whichever ends first ends the session.
wait -n "${PIDS[@]}"

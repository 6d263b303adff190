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
#      [workspace.metadata.lambda.watch.router] table of Cargo.toml, with up to
#      $RADAR_DEV_CONCURRENCY instances of each function (devstack writes it to dev.env: as
#      many as the event source mapping invokes at once, from the template's
#      MaximumConcurrency).
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
# As `cargo lambda watch` builds each instance: `cargo run --bin <function>` with no package
# named resolves features for the whole workspace, not for the function's package alone, so a
# `-p <function>` build here would leave every function to be rebuilt by its first instance.
cargo build --locked --quiet --bin submit --bin processor --bin dispatcher --bin poll --bin radars --bin devstack

mkdir -p "$OUT"
# Absolute: cargo lambda watch reads functions.env from another directory.
OUT="$(cd "$OUT" && pwd)"
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

CONCURRENCY="$(source "$OUT/dev.env" && echo "${RADAR_DEV_CONCURRENCY:-}")"
[[ "$CONCURRENCY" =~ ^[1-9][0-9]*$ ]] || die "no RADAR_DEV_CONCURRENCY in $OUT/dev.env"

# cargo-lambda watches its working directory, recursively, once for every instance, and restarts
# every instance (failing the invocations they are running) on any change there that no
# .gitignore excludes. In the checkout that would mean .local/ and target/ (about 12,000
# directories, each an inotify watch, per instance: 15 instances took 180,000 of the 192,536 a
# user may have on the machine this was written on, 66 would need 800,000) and .git/ (any
# commit would restart the functions). So it runs in a directory that holds only what the
# functions are built from (about 30 watches an instance).
WATCHED="$OUT/watched"
rm -rf "$WATCHED"
mkdir -p "$WATCHED"
for path in Cargo.toml Cargo.lock functions shared; do
  ln -s "$ROOT/$path" "$WATCHED/$path"
done
(
  cd "$WATCHED"
  exec cargo lambda watch --manifest-path "$ROOT/Cargo.toml" --concurrency "$CONCURRENCY" \
    -A 127.0.0.1 -P "$RADAR_API_PORT" --env-file "$OUT/functions.env"
) &
PIDS+=($!)

# Whichever ends first ends the session.
wait -n "${PIDS[@]}"

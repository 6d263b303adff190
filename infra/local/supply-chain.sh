#!/usr/bin/env bash
# Installs what make lint's supply-chain checks need into <repo>/.local/:
#   .local/cargo/bin/  cargo-deny (advisories, licenses, duplicate versions, sources; deny.toml)
#                      and cargo-machete (unused dependencies), built from crates.io, pinned
#   .local/advisory-db the RustSec advisory database, cloned from the snapshot in
#                      ../shared/supply-chain/advisory-db.bundle (these machines cannot reach
#                      the database's own host), linked into .local/advisory-dbs/ where
#                      deny.toml's db-path expects it
# Idempotent: the tools have a stamp; the clone is made again only when the bundle's commit
# differs from it. When both match, this script does no network or build work.
# Needs: cargo, git. Override the bundle with RADAR_ADVISORY_DB_BUNDLE.
set -euo pipefail

# Recent enough to read the advisory database's current format (CVSS 4.0 scores).
CARGO_TOOLS=("cargo-deny@0.20.2" "cargo-machete@0.9.2")
# The directory name cargo-deny derives from the default database URL
# (https://github.com/RustSec/advisory-db); deny.toml uses the default.
DENY_DB_NAME="advisory-db-3157b0e258782691"
STALE_DAYS=90

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="${RADAR_LOCAL_DIR:-$ROOT/.local}"
CARGO_ROOT="$LOCAL/cargo"
TOOLS_STAMP="$LOCAL/.stamp-cargo-tools"
TOOLS_WANT="${CARGO_TOOLS[*]}"
DB="$LOCAL/advisory-db"
DB_LINK="$LOCAL/advisory-dbs/$DENY_DB_NAME"
BUNDLE="${RADAR_ADVISORY_DB_BUNDLE:-$ROOT/../shared/supply-chain/advisory-db.bundle}"

say() { echo "supply-chain.sh: $*" >&2; }
die() { echo "supply-chain.sh: ERROR: $*" >&2; exit 1; }

tools_ok() {
  [[ -f "$TOOLS_STAMP" && "$(<"$TOOLS_STAMP")" == "$TOOLS_WANT" ]] || return 1
  local tool
  for tool in "${CARGO_TOOLS[@]}"; do [[ -x "$CARGO_ROOT/bin/${tool%@*}" ]] || return 1; done
}

# The commit the bundle holds (its HEAD, else its first ref), or nothing when there is no bundle.
bundle_commit() {
  [[ -f "$BUNDLE" ]] || return 0
  local heads
  heads="$(git bundle list-heads "$BUNDLE")" || die "$BUNDLE is not a git bundle"
  awk '$2 == "HEAD" { print $1; found = 1; exit } END { if (!found) exit 1 }' <<<"$heads" \
    || awk 'NR == 1 { print $1 }' <<<"$heads"
}
db_commit() { git -C "$DB" rev-parse -q --verify HEAD 2>/dev/null || true; }

command -v git >/dev/null 2>&1 || die "git not found on PATH"
want_db="$(bundle_commit)"
have_db="$(db_commit)"

db_ok() {
  [[ -n "$have_db" && ( -z "$want_db" || "$have_db" == "$want_db" ) && -L "$DB_LINK" ]]
}

if ! tools_ok || ! db_ok; then
  mkdir -p "$LOCAL"
  # Serialise concurrent installs in the same checkout.
  if command -v flock >/dev/null 2>&1; then
    exec {lockfd}>"$LOCAL/.supply-chain.lock"
    flock "$lockfd"
  fi
  have_db="$(db_commit)"   # another run may have cloned it while this one waited
fi

if ! tools_ok; then
  command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH"
  say "building ${TOOLS_WANT} into ${CARGO_ROOT#"$ROOT"/} (about 5 minutes the first time) ..."
  rm -f "$TOOLS_STAMP"
  # A build directory of its own, whatever CARGO_TARGET_DIR says, removed afterwards.
  build="$(mktemp -d "${TMPDIR:-/tmp}/radar-cargo-tools.XXXXXX")"
  trap 'rm -rf "$build"' EXIT
  for tool in "${CARGO_TOOLS[@]}"; do
    cargo install --locked --root "$CARGO_ROOT" --target-dir "$build" "$tool" >&2 \
      || die "cargo install $tool failed"
    [[ -x "$CARGO_ROOT/bin/${tool%@*}" ]] || die "${tool%@*} missing from $CARGO_ROOT/bin after install"
  done
  echo "$TOOLS_WANT" >"$TOOLS_STAMP"
  say "ready: $TOOLS_WANT in ${CARGO_ROOT#"$ROOT"/}/bin"
fi

if [[ -z "$want_db" ]]; then
  [[ -n "$have_db" ]] \
    || die "no advisory database: $BUNDLE is missing (set RADAR_ADVISORY_DB_BUNDLE to a bundle of the RustSec advisory-db)"
  say "WARNING: $BUNDLE is missing; checking against the clone already in ${DB#"$ROOT"/} (${have_db:0:12})"
elif [[ "$have_db" != "$want_db" ]]; then
  say "cloning the advisory database ${want_db:0:12} from ${BUNDLE} into ${DB#"$ROOT"/} ..."
  rm -rf "$DB.new"
  git -c init.defaultBranch=main clone -q --no-checkout "$BUNDLE" "$DB.new" >&2 || die "git clone $BUNDLE failed"
  git -C "$DB.new" -c advice.detachedHead=false checkout -q "$want_db" >&2 \
    || die "checking out $want_db of $BUNDLE failed"
  rm -rf "$DB"
  mv "$DB.new" "$DB"
  have_db="$want_db"
fi

if [[ ! -L "$DB_LINK" ]]; then
  mkdir -p "$(dirname "$DB_LINK")"
  rm -rf "$DB_LINK"
  ln -s "../$(basename "$DB")" "$DB_LINK"
fi

# The checks read the snapshot as it is; say when it is old enough to miss recent advisories.
age_days=$(( ($(date +%s) - $(git -C "$DB" log -1 --format=%ct HEAD)) / 86400 ))
if (( age_days > STALE_DAYS )); then
  say "WARNING: the advisory database snapshot is $age_days days old ($(git -C "$DB" log -1 --format=%cs HEAD)); advisories published since are not checked until ../shared/supply-chain/advisory-db.bundle is renewed"
fi

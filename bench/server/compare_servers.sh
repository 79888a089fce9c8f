#!/usr/bin/env bash
# Throughput of two hwnas-server binaries side by side, in one run: the
# rounds alternate (A B A B ...) so that drift in the machine's load hits both
# alike, and each row reports the median over the rounds and the ratio B/A.
# Usage: bench/server/compare_servers.sh BASE_SERVER NEW_SERVER [ROUNDS] [-- BENCH FLAGS]
#   BENCH: $HWNAS_BENCH_SERVER or build/bench/server/hwnas-bench-server
# Example (the refactor check of issue #18):
#   git worktree add /tmp/base <old commit> && (cd /tmp/base && cmake ... && ninja hwnas-server)
#   bench/server/compare_servers.sh /tmp/base/build/server/hwnas-server build/server/hwnas-server 3
set -euo pipefail
if (($# < 2)); then
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
base=$1 new=$2
shift 2
rounds=3
if (($# > 0)) && [[ $1 != -- ]]; then rounds=$1; shift; fi
[[ ${1:-} == -- ]] && shift
bench=${HWNAS_BENCH_SERVER:-build/bench/server/hwnas-bench-server}
for f in "$base" "$new" "$bench"; do
  [[ -x $f ]] || { echo "compare_servers: not an executable: $f" >&2; exit 2; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((r = 1; r <= rounds; r++)); do
  for side in base new; do
    bin=$base
    [[ $side == new ]] && bin=$new
    echo "round $r/$rounds: $side ($bin)" >&2
    "$bench" --skip-optuna --skip-scale --server-bin "$bin" --json "$out/$side-$r.json" "$@" \
      >"$out/$side-$r.log" 2>&1 || { cat "$out/$side-$r.log" >&2; exit 1; }
  done
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rates = {}
for side in ("base", "new"):
    for r in range(1, rounds + 1):
        for row in json.load(open(f"{out}/{side}-{r}.json"))["hwnas"]:
            rates.setdefault((row["workers"], row["batch"]), {}).setdefault(side, []).append(
                row["trials_per_s"])
print("| workers | trials per call | base trials/s (median; all) | new trials/s (median; all) | new / base |")
print("|---:|---:|---:|---:|---:|")
for (workers, batch), sides in sorted(rates.items()):
    b, n = sides.get("base", []), sides.get("new", [])
    if not b or not n:
        continue
    mb, mn = statistics.median(b), statistics.median(n)
    fmt = lambda v: "; ".join(f"{x:.0f}" for x in v)
    print(f"| {workers} | {batch} | {mb:.1f} ({fmt(b)}) | {mn:.1f} ({fmt(n)}) | {mn / mb:.3f} |")
PY

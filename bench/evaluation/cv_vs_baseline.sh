#!/usr/bin/env bash
# What a search bought, judged the way the search judged it: runs SPEC with
# `hwnas local` (its evaluation: section, e.g. cross-validation), takes the
# best trial by reward, and evaluates a fixed hand-designed BASELINE
# architecture of the same space with `hwnas-worker evaluate` on the same
# spec (same folds, same seeds). Prints one markdown table row per
# architecture for docs/benchmarks.md.
#
#   bench/evaluation/cv_vs_baseline.sh SPEC BASELINE_ARCH [hwnas local flags]
#
# e.g. (from the repository root, after scripts/setup):
#   bench/evaluation/cv_vs_baseline.sh examples/ecg-tinyml.yaml \
#     "conv_k5_d1_c16_p2 conv_k5_d2_c32_p2 gru_h16" --workers 2
# BUILD_DIR (default build) holds the binaries; the data comes from
# $HWNAS_SHARED_DATA or ../shared/data as for hwnas local.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
spec=$1
baseline=$2
shift 2
build=${BUILD_DIR:-build}
hwnas=$build/cli/hwnas
worker=$build/worker/hwnas-worker
for bin in "$hwnas" "$worker" "$build/server/hwnas-server"; do
  [[ -x $bin ]] || { echo "cv_vs_baseline: $bin is missing (build first)" >&2; exit 1; }
done
work=$(mktemp -d /var/tmp/hwnas-cv-bench.XXXXXX)
chmod 755 "$work"  # As root, PostgreSQL runs as the postgres user.
state=$work/state  # hwnas local wants a new or empty directory.
log=$work/local.out
cleanup() {
  [[ -n ${local_pid:-} ]] && kill -INT "$local_pid" 2>/dev/null && wait "$local_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "cv_vs_baseline: searching with $spec (state in $state)" >&2
start=$(date +%s)
"$hwnas" local "$spec" --state-dir "$state" --keep-running "$@" >"$log" 2>&1 &
local_pid=$!
# --keep-running: the results are printed, then the server stays up.
until grep -q "Pareto front of search" "$log" 2>/dev/null; do
  if ! kill -0 "$local_pid" 2>/dev/null; then
    echo "cv_vs_baseline: hwnas local ended early:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  sleep 5
done
search_seconds=$(($(date +%s) - start))
sleep 2
best_json=$("$hwnas" --config "$state/config.yaml" trials 1 --state SUCCEEDED --sort reward \
  --top 1 -o json)

echo "cv_vs_baseline: evaluating the baseline '$baseline'" >&2
baseline_json=$("$worker" evaluate --spec "$spec" --arch "$baseline" --json --quiet)

python3 - "$spec" "$search_seconds" "$best_json" "$baseline_json" <<'PY'
import json, sys
spec, seconds, best, base = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
best = best[0]
r = best["result"]
def fmt(acc, se, folds):
    return f"{acc:.4f} ± {se:.4f} ({folds} folds)" if folds else f"{acc:.4f} (one split)"
def opt(v):
    return "-" if v is None else f"{v:.4f}"
print(f"| spec | architecture | accuracy (mean ± SE) | balanced accuracy | macro-F1 | params |")
print(f"|---|---|---|---|---|---|")
print(f"| {spec} | search best (trial {best['number']}, {seconds} s search): "
      f"`{best['architecture']['readable']}` | "
      f"{fmt(r['accuracy'], r.get('accuracy_se', 0), len(r.get('fold_accuracy', [])))} | "
      f"{opt(r.get('balanced_accuracy'))} | {opt(r.get('macro_f1'))} | {r['costs']['params']} |")
print(f"| {spec} | baseline: `{base['architecture']['readable']}` | "
      f"{fmt(base['accuracy'], base.get('accuracy_se', 0), len(base.get('fold_accuracy', [])))} | "
      f"{opt(base.get('balanced_accuracy'))} | {opt(base.get('macro_f1'))} | "
      f"{base.get('costs', {}).get('params', '-')} |")
PY

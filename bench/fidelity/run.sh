#!/bin/bash
# Time to quality against Optuna (#20): builds what the driver needs, then runs
# bench/fidelity/fidelity_bench.py (hwnas local against Optuna's TPE and
# NSGA-II with its Hyperband and successive-halving pruners, interleaved, on
# the two tasks of bench/fidelity/specs/) and writes trials.csv, runs.csv,
# summary.md and curves.svg to OUT (docs/benchmarks.md, "Time to quality
# against Optuna (#20)").
#
#   bench/fidelity/run.sh [BUILD_DIR] [OUT] [-- more fidelity_bench.py run flags]
#
# Defaults: build, bench/fidelity/results/<today>; two seeds, 330 s per
# Fashion-MNIST run and 210 s per ECG5000 run (about an hour on 2 cores).
# Every process runs under `nice -n 10`. Needs Debian's python3-torch,
# python3-optuna and python3-yaml (not in scripts/setup: nothing in ctest
# needs them) and, for ECG5000, the shared data ($HWNAS_SHARED_DATA or
# ../shared/data).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
out=${2:-$here/results/$(date -u +%Y-%m-%d)}
shift $(( $# > 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift
export HWNAS_SHARED_DATA=${HWNAS_SHARED_DATA:-$here/../../../shared/data}
cmake --build "$build" --target hwnas hwnas-server hwnas-worker fidelity_plan_tool
exec /usr/bin/python3 "$here/fidelity_bench.py" run --build "$build" --out "$out" \
  --work "${TMPDIR:-/var/tmp}/hwnas-fidelity-$(basename "$out")" \
  --tasks fashion,ecg --seeds 0,1 --deadline fashion=330,ecg=210 \
  --sides hwnas:evolution,optuna:tpe:hyperband,optuna:nsga2:sha "$@"

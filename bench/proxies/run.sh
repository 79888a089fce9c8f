#!/bin/bash
# Proxy quality benchmark (#20): trains sampled architectures of the mnasnet
# space on Fashion-MNIST and of the temporal space on ECG5000 with the fixed
# short recipes in bench/proxies/specs/, scores each with every proxy on one
# real batch, and writes the per-architecture rows and the summary tables to
# bench/proxies/results/ (docs/benchmarks.md, "Proxy quality").
#
#   bench/proxies/run.sh [BUILD_DIR] [MNASNET_ARCHS] [TEMPORAL_ARCHS]
#
# Defaults: build, 200, 200. The MnasNet rows come from four processes of a
# quarter of the architectures each (seeds 1-4) and the temporal rows from a
# fifth, all under `nice -n 10`; rerunning resumes every CSV where it stopped.
# RMI's reference models are trained first with `hwnas-worker export` (the
# same spec and split, 5 epochs for MnasNet, 15 for the temporal network)
# and passed as TorchScript files, exactly as a proxy search takes them.
set -euo pipefail
build=${1:-build}
mnasnet_archs=${2:-200}
temporal_archs=${3:-200}
here=$(cd "$(dirname "$0")" && pwd)
out=$here/results
mkdir -p "$out"
export HWNAS_SHARED_DATA=${HWNAS_SHARED_DATA:-$here/../../../shared/data}
bench=$build/bench/proxies/proxy_quality_bench
worker=$build/worker/hwnas-worker

# References: an MnasNet-M-like network (MBConv3, k3/k5, SE 0.25, width 1.0)
# and the temporal network of the worker benchmarks.
mnasnet_ref="3,0,1,1,1,1, 3,1,1,1,1,1, 3,0,1,1,1,1, 3,1,1,1,1,1"
temporal_ref="conv_k5_d1_c32_p2 sep_k5_d2_c64_p2 lstm_h32"
[ -s "$out/mnasnet_reference.pt" ] || nice -n 10 "$worker" export --quiet --spec-data \
  --spec "$here/specs/mnasnet_fashion.yaml" --arch "$mnasnet_ref" --epochs 5 \
  --out "$out/mnasnet_reference.pt" --summary "$out/mnasnet_reference.json" >/dev/null
[ -s "$out/temporal_reference.pt" ] || nice -n 10 "$worker" export --quiet --spec-data \
  --spec "$here/specs/temporal_ecg.yaml" --arch "$temporal_ref" --epochs 15 \
  --out "$out/temporal_reference.pt" --summary "$out/temporal_reference.json" >/dev/null

# Four MnasNet processes of a quarter of the architectures each (seeds 1-4;
# their samples are pooled) and one temporal process, all in parallel.
quarter=$(( (mnasnet_archs + 3) / 4 ))
start=$(date +%s)
pids=()
for seed in 1 2 3 4; do
  nice -n 10 "$bench" --spec "$here/specs/mnasnet_fashion.yaml" --archs "$quarter" --seed "$seed" \
    --reference "$out/mnasnet_reference.pt" --out "$out/mnasnet_fashion_seed$seed.csv" \
    >>"$out/mnasnet_fashion_seed$seed.log" 2>&1 &
  pids+=($!)
done
nice -n 10 "$bench" --spec "$here/specs/temporal_ecg.yaml" --archs "$temporal_archs" --seed 1 \
  --reference "$out/temporal_reference.pt" --out "$out/temporal_ecg.csv" \
  >>"$out/temporal_ecg.log" 2>&1 &
pids+=($!)
wait "${pids[@]}"
end=$(date +%s)

{
  echo "# Proxy quality ($(date -u +%Y-%m-%dT%H:%MZ), $(( (end - start) / 60 )) min wall clock)"
  echo
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "command: bench/proxies/run.sh $build $mnasnet_archs $temporal_archs"
  echo
  echo "## mnasnet space, Fashion-MNIST (specs/mnasnet_fashion.yaml)"
  echo
  "$bench" --summarize "$out/mnasnet_fashion_seed1.csv,$out/mnasnet_fashion_seed2.csv,$out/mnasnet_fashion_seed3.csv,$out/mnasnet_fashion_seed4.csv"
  echo
  echo "## temporal space, ECG5000 (specs/temporal_ecg.yaml)"
  echo
  "$bench" --summarize "$out/temporal_ecg.csv"
} | tee "$out/summary.md"

#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests (deploy/kubernetes): renders
# every overlay with `kubectl kustomize` and validates each object against the
# Kubernetes OpenAPI schemas, with unknown fields rejected
# (deploy/kubernetes/validate/validate.mjs); then checks that every
# deliberately broken fixture under validate/broken/ fails, with the problem
# its `# expect:` line names.
#
# Exit 77 (ctest SKIP) with the reason when kubectl, node or the pinned npm
# packages are missing and cannot be installed (no npm registry).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
k8s=$root/deploy/kubernetes
validate=$k8s/validate
skip() { echo "SKIP: $*"; exit 77; }

command -v node >/dev/null || skip "node is not installed"
command -v kubectl >/dev/null || skip "kubectl is not installed (scripts/setup installs kubernetes-client)"

# The pinned packages (package-lock.json); installed once, reused after.
if [[ ! -d $validate/node_modules/kubernetes-models ]]; then
  command -v npm >/dev/null || skip "npm is not installed"
  if ! (cd "$validate" && npm ci --no-audit --no-fund --silent); then
    skip "npm ci failed (is the npm registry reachable?)"
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passed=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for overlay in "$k8s"/overlays/*/; do
  name=$(basename "$overlay")
  # kustomize 5 warns on stderr that `bases` and `patchesStrategicMerge` are
  # deprecated; they are kept because Debian's kubectl 1.20 knows no other.
  if ! kubectl kustomize "$overlay" >"$tmp/$name.yaml" 2>"$tmp/$name.err"; then
    fail "overlay $name does not render: $(cat "$tmp/$name.err")"
    continue
  fi
  grep -v "is deprecated" "$tmp/$name.err" >&2
  echo "== overlay $name"
  if node "$validate/validate.mjs" "$tmp/$name.yaml"; then
    passed=$((passed + 1))
  else
    fail "overlay $name has invalid objects"
  fi
  # What every overlay must contain (the issue's list): a rendered set
  # missing one of these would validate and still not be a deployment.
  for want in "kind: Deployment" "name: hwnas-server" "name: hwnas-worker" "kind: StatefulSet" \
      "volumeClaimTemplates:" "kind: NetworkPolicy" "kind: PodDisruptionBudget" \
      "grpc:" "name: migrate" "terminationGracePeriodSeconds: 60"; do
    grep -q -- "$want" "$tmp/$name.yaml" || fail "overlay $name: no '$want'"
  done
done

echo "== secrets.example.yaml"
if node "$validate/validate.mjs" "$k8s/secrets.example.yaml"; then
  passed=$((passed + 1))
else
  fail "secrets.example.yaml is invalid"
fi

# Broken fixtures: each must fail, for the reason it names (one node process).
if node "$validate/validate.mjs" --broken "$validate"/broken/*.yaml; then
  passed=$((passed + 1))
else
  fail "a broken fixture was accepted or failed for another reason"
fi

echo "$passed passed, $failures failed"
((failures == 0))

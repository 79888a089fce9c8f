#!/bin/sh
# Runs a test binary with OpenBLAS forced onto one kernel family, so that the
# controller tests are checked on the kernels of other CPUs too (results must
# not hinge on the last bits of a matrix product). Exits 77 (ctest: skipped)
# with the reason when this CPU cannot execute that family's instructions.
#
#   with_openblas_core.sh Haswell|Sandybridge BINARY [ARGS...]
set -eu
core=$1
shift
case "$core" in
  Haswell) needs="avx2 fma" ;;  # FMA kernels (also what Zen selects).
  Sandybridge) needs="avx" ;;   # Separate multiply and add.
  *)
    echo "with_openblas_core.sh: unknown kernel family '$core'" >&2
    exit 2
    ;;
esac
for flag in $needs; do
  if ! grep -qw "$flag" /proc/cpuinfo; then
    echo "SKIPPED: this CPU has no $flag, which OpenBLAS's $core kernels need"
    exit 77
  fi
done
OPENBLAS_CORETYPE=$core
export OPENBLAS_CORETYPE
exec "$@"

#!/usr/bin/env bash
# Build Horovod 0.28.1 (its last release) from the PyPI sdist against the TensorFlow in the venv.
#
#   scripts/build_horovod.sh [VENV]        (default .venv; about 2 minutes on 2 cores)
#
# Always built with Gloo (no MPI needed; horovodrun/srun start the ranks). With Open MPI installed
# (mpicc on PATH) MPI support is added too. On GPU nodes export HOROVOD_GPU_OPERATIONS=NCCL (and
# HOROVOD_NCCL_HOME if NCCL is not in the default paths) before running this, with CUDA loaded.
#
# The built wheel is kept in ${XDG_CACHE_HOME:-~/.cache}/workbench/horovod/, keyed by what it was
# built against (Horovod, TensorFlow and Python versions, MPI and GPU options), so a fresh venv on
# the same machine (a new clone, a CI run) installs it in seconds instead of rebuilding.
#
# TF 2.21 no longer ships the XLA client headers that horovod/tensorflow/xla_mpi_ops.cc includes
# (xla/client/xla_builder.h). That file only adds optional XLA support behind
# `#if TENSORFLOW_VERSION >= 2006000000`, so we switch its guard off and build the rest unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
PY="$VENV/bin/python"
VERSION=0.28.1
[[ -x "$PY" ]] || { echo "build_horovod: $PY not found; run ./workshop setup first" >&2; exit 1; }
for tool in cmake g++; do
  command -v "$tool" >/dev/null || { echo "build_horovod: $tool is required (Debian: apt-get install cmake g++)" >&2; exit 1; }
done

export HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITH_GLOO=1
if command -v mpicc >/dev/null; then export HOROVOD_WITH_MPI=1; else export HOROVOD_WITHOUT_MPI=1; fi
key=$("$PY" -c 'import sys, tensorflow as tf
print(f"{sys.argv[1]}-tf{tf.__version__}-py{sys.version_info[0]}{sys.version_info[1]}")' "$VERSION" 2>/dev/null)
key="$key-${HOROVOD_WITH_MPI:+mpi}${HOROVOD_WITHOUT_MPI:+nompi}-${HOROVOD_GPU_OPERATIONS:-cpu}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/workbench/horovod/$key"
runtime_needs() {
  "$PY" -m pip install --quiet cloudpickle psutil pyyaml packaging  # horovod's runtime needs
  "$PY" -c "import horovod.tensorflow as hvd; hvd.init(); import horovod; print('horovod', horovod.__version__, 'gloo', hvd.gloo_built(), 'mpi', hvd.mpi_built())"
}
if compgen -G "$cache/horovod-*.whl" >/dev/null; then
  echo "build_horovod: installing the wheel built earlier for $key ($cache)" >&2
  "$PY" -m pip install --quiet --no-deps --force-reinstall "$cache"/horovod-*.whl
  runtime_needs
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download --quiet --no-deps --no-binary :all: "horovod==$VERSION" -d "$work"
tar -xzf "$work/horovod-$VERSION.tar.gz" -C "$work"
src="$work/horovod-$VERSION"
xla="$src/horovod/tensorflow/xla_mpi_ops.cc"
grep -q '^#if TENSORFLOW_VERSION >= 2006000000' "$xla" ||
  { echo "build_horovod: unexpected $xla; the TF 2.21 workaround needs review" >&2; exit 1; }
sed -i 's/^#if TENSORFLOW_VERSION >= 2006000000/#if 0  \/\/ workbench: XLA headers are gone in TF 2.21/' "$xla"

export MAKEFLAGS="-j$(nproc)"
"$PY" -m pip wheel --no-build-isolation --no-deps --no-cache-dir -w "$work/wheel" "$src"
"$PY" -m pip install --no-deps "$work"/wheel/horovod-*.whl
mkdir -p "$cache" && cp "$work"/wheel/horovod-*.whl "$cache"/
runtime_needs

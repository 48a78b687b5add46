#!/usr/bin/env bash
# Build Horovod 0.28.1 (its last release) from the PyPI sdist against the TensorFlow in the venv.
#
#   scripts/build_horovod.sh [VENV]        (default .venv; about 2 minutes on 2 cores)
#
# Always built with Gloo (no MPI needed; horovodrun/srun start the ranks). With Open MPI installed
# (mpicc on PATH) MPI support is added too. On GPU nodes export HOROVOD_GPU_OPERATIONS=NCCL (and
# HOROVOD_NCCL_HOME if NCCL is not in the default paths) before running this, with CUDA loaded.
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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download --quiet --no-deps --no-binary :all: "horovod==$VERSION" -d "$work"
tar -xzf "$work/horovod-$VERSION.tar.gz" -C "$work"
src="$work/horovod-$VERSION"
xla="$src/horovod/tensorflow/xla_mpi_ops.cc"
grep -q '^#if TENSORFLOW_VERSION >= 2006000000' "$xla" ||
  { echo "build_horovod: unexpected $xla; the TF 2.21 workaround needs review" >&2; exit 1; }
sed -i 's/^#if TENSORFLOW_VERSION >= 2006000000/#if 0  \/\/ workbench: XLA headers are gone in TF 2.21/' "$xla"

export HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITH_GLOO=1
if command -v mpicc >/dev/null; then export HOROVOD_WITH_MPI=1; else export HOROVOD_WITHOUT_MPI=1; fi
export MAKEFLAGS="-j$(nproc)"
"$PY" -m pip install --no-build-isolation --no-deps --no-cache-dir "$src"
"$PY" -m pip install --quiet cloudpickle psutil pyyaml packaging  # horovod's runtime needs
"$PY" -c "import horovod.tensorflow as hvd; hvd.init(); import horovod; print('horovod', horovod.__version__, 'gloo', hvd.gloo_built(), 'mpi', hvd.mpi_built())"

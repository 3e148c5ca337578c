#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with the pinned stack.
#
# Idempotent: a stamp file records a hash of this script and the requirement
# files; when it matches and the imports succeed, nothing is done.
# mmcv is compiled from source with its ops. The built wheel is kept in a
# cache directory keyed by the torch version and the Python version, so a
# wheel built against another torch is never reused (its compiled ops would
# fail to import with undefined symbols).
#
# Two stacks (requirements/README.md): STACK=pinned (the default: Python
# 3.11, torch 2.9.1, numpy 1, requirements/constraints.txt) and
# STACK=current (Python 3.12, torch 2.11, numpy 2,
# requirements/constraints-current.txt; mmcv 2.1.0 is compiled from its
# sdist with -std=c++20, which torch >= 2.10's headers need).
#
# Environment variables:
#   STACK        pinned (default) or current
#   VENV         virtual environment path (default: .venv, or .venv-current
#                for STACK=current, in the repo)
#   PYTHON       interpreter used to create it (default: the stack's Python,
#                python3.11 / python3.12, or pyenv's)
#   MMBDL_CACHE  wheel cache root (default: ~/.cache/mmbdl)
#   MAX_JOBS     parallel compile jobs for mmcv (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STACK=${STACK:-pinned}
case $STACK in
  pinned) CONSTRAINTS=$ROOT/requirements/constraints.txt STACK_PY=3.11
    VENV=${VENV:-$ROOT/.venv} ;;
  current) CONSTRAINTS=$ROOT/requirements/constraints-current.txt STACK_PY=3.12
    VENV=${VENV:-$ROOT/.venv-current} ;;
  *) echo "error: STACK=$STACK is not a stack of mmbdl (pinned or current)" >&2
    exit 2 ;;
esac

# the first interpreter of the stack's Python version that runs (a pyenv
# shim of a version that is not selected exists but fails)
find_python() {
  local candidate
  for candidate in "python$STACK_PY" "$HOME"/.pyenv/versions/"$STACK_PY".*/bin/python"$STACK_PY"; do
    if "$candidate" -c 'import sys' >/dev/null 2>&1; then
      command -v "$candidate"
      return
    fi
  done
  echo "error: no python$STACK_PY found for STACK=$STACK; set PYTHON=/path/to/python$STACK_PY" >&2
  exit 2
}
PYTHON=${PYTHON:-$(find_python)}
CACHE=${MMBDL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmbdl}
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
NUMPY_SPEC=$(sed -n 's/^\(numpy[<>=!][^ #]*\).*/\1/p' "$CONSTRAINTS")
TORCH_VERSION=$(sed -n 's/^torch==//p' "$CONSTRAINTS")

stamp_hash() {
  cat scripts/setup_env.sh requirements/*.txt setup.py | sha256sum | cut -c1-16
}
STAMP=$VENV/.mmbdl-env-$(stamp_hash)

check_imports() {
  "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
# mmbdl first: on numpy 2 it restores the np.bool8 that MMagic names
import mmbdl, mmcv.ops, mmseg, mmengine, mmagic.models  # noqa
PY
}

if [[ -f $STAMP ]] && check_imports; then
  echo "[setup_env] environment $VENV is up to date"
  exit 0
fi

t0=$SECONDS
step() { echo "[setup_env] $(date +%T) $*"; }
timing() { echo "[setup_env] step '$1' took $((SECONDS - $2)) s"; }

if [[ ! -x $VENV/bin/python ]]; then
  step "creating virtual environment $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import sys; assert sys.version.startswith('$STACK_PY.')" 2>/dev/null; then
  echo "error: $VENV is not a Python $STACK_PY venv (STACK=$STACK); remove it or set VENV" >&2
  exit 2
fi
# PyPI's torch for x86_64 is a CUDA build: the venv measured 7.8 GB (pinned)
# and 5.8 GB (current) here. Refuse early, with the figure, rather than fail
# with pip's "No space left on device" halfway through the install.
case $STACK in pinned) NEED_GB=9 ;; current) NEED_GB=7 ;; esac
if ! "$VENV/bin/python" -c 'import torch' >/dev/null 2>&1; then
  FREE_GB=$(df -Pk "$VENV" | awk 'NR == 2 {print int($4 / 1048576)}')
  if ((FREE_GB < NEED_GB)); then
    echo "error: $FREE_GB GB free on the disk of $VENV; STACK=$STACK needs about $NEED_GB GB (torch's CUDA build from PyPI): free space there or set VENV to a larger disk" >&2
    exit 2
  fi
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -c "$CONSTRAINTS")

s=$SECONDS
step "1/4 torch $TORCH_VERSION and build tools"
"${PIP[@]}" "torch==$TORCH_VERSION" torchvision "$NUMPY_SPEC" 'setuptools<70' wheel ninja
timing torch $s

# shellcheck source=scripts/build_mmcv.sh
source scripts/build_mmcv.sh

PYTAG=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')
WHEELS=$CACHE/wheels/torch-$TORCH_VERSION-$PYTAG
s=$SECONDS
if "$VENV/bin/python" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' >/dev/null 2>&1; then
  step "2/4 mmcv 2.1.0 with ops already importable"
else
  if ! ls "$WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
    step "2/4 building mmcv 2.1.0 with ops against torch $TORCH_VERSION (pinned: about 6 min on 2 cores; current, C++20: about 35 min)"
    mkdir -p "$WHEELS"
    build_mmcv "$VENV/bin/python" "$CONSTRAINTS" "$WHEELS.tmp"
    mv "$WHEELS".tmp/mmcv-2.1.0-*.whl "$WHEELS"/ && rm -rf "$WHEELS.tmp"
  else
    step "2/4 reusing mmcv wheel built for torch $TORCH_VERSION from $WHEELS"
  fi
  "${PIP[@]}" --no-deps --force-reinstall "$WHEELS"/mmcv-2.1.0-*.whl
  "${PIP[@]}" addict packaging pyyaml yapf opencv-python pillow
fi
timing mmcv $s

s=$SECONDS
step "3/4 mmengine, mmsegmentation, mmagic (no deps) and the packages its modules import"
"${PIP[@]}" mmengine==0.10.7 mmsegmentation==1.2.2 ftfy regex
"${PIP[@]}" --no-deps mmagic==1.2.0
"${PIP[@]}" -r requirements/mmagic_deps.txt
"${PIP[@]}" -r requirements/tests.txt
"${PIP[@]}" -r requirements/lint.txt  # make lint
"${PIP[@]}" --no-deps -r requirements/mim.txt  # see the file: no opendatalab
timing deps $s

s=$SECONDS
step "4/4 mmbdl in editable mode"
"${PIP[@]}" --no-deps --no-build-isolation -e .
timing mmbdl $s

if ! "$VENV/bin/python" -c 'import mmbdl, mmcv.ops, mmseg, mmagic.models'; then
  echo "[setup_env] the environment was built but does not import; see the error above" >&2
  exit 1
fi
rm -f "$VENV"/.mmbdl-env-*
touch "$STAMP"
echo "[setup_env] done in $((SECONDS - t0)) s"

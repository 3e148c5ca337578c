#!/usr/bin/env bash
# Write the wheel set that makes mmbdl importable on a machine that has its
# own Python, torch and numpy 2 but no network (a lent GPU machine): mmcv
# 2.1.0 compiled against that torch and Python (from the wheel cache of
# scripts/setup_env.sh, or built here: about 35 min on 2 cores), and the
# wheels of requirements/device_kit.txt. Then, with KIT_CHECK=1 (default),
# install the kit the way that machine does, into a folder on PYTHONPATH
# over a venv that has only torch, numpy 2 and the machine's own packages
# (KIT_HOST_PACKAGES), and import mmcv.ops, mmseg, mmagic.models and mmbdl.
#
# Environment variables (`make device-kit` sets the first three):
#   KIT_PYTHON  the machine's Python version (default 3.12)
#   KIT_TORCH   the machine's torch version (default 2.11.0)
#   KIT_DIR     output folder (default dist/device-kit-torch<T>-py<P>)
#   KIT_CHECK   1: check the kit imports (default), 0: only write it
#   KIT_HOST_PACKAGES  what the machine has beside torch (see the default)
#   MMBDL_CACHE wheel cache root (default: ~/.cache/mmbdl)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
KIT_PYTHON=${KIT_PYTHON:-3.12}
KIT_TORCH=${KIT_TORCH:-2.11.0}
KIT_DIR=${KIT_DIR:-dist/device-kit-torch$KIT_TORCH-py$KIT_PYTHON}
KIT_CHECK=${KIT_CHECK:-1}
# the lent GPU machine's packages beside torch (what its venv holds)
KIT_HOST_PACKAGES=${KIT_HOST_PACKAGES:-opencv-python-headless scipy pandas timm transformers huggingface_hub tokenizers}
CACHE=${MMBDL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmbdl}
PYTAG=cp${KIT_PYTHON/./}
WHEELS=$CACHE/wheels/torch-$KIT_TORCH-$PYTAG  # shared with setup_env.sh
HOST=$CACHE/device-kit/venv-torch$KIT_TORCH-$PYTAG
CONSTRAINTS=$ROOT/requirements/constraints-current.txt
# shellcheck source=scripts/build_mmcv.sh
source scripts/build_mmcv.sh
step() { echo "[device_kit] $(date +%T) $*"; }

PYTHON=
for candidate in "python$KIT_PYTHON" "$HOME"/.pyenv/versions/"$KIT_PYTHON".*/bin/python"$KIT_PYTHON"; do
  if "$candidate" -c 'import sys' >/dev/null 2>&1; then
    PYTHON=$(command -v "$candidate")
    break
  fi
done
if [[ -z $PYTHON ]]; then
  echo "error: no python$KIT_PYTHON found to build the kit with" >&2
  exit 2
fi

# a venv like the machine's: its torch, numpy 2 and its own packages
host_venv() {
  if [[ ! -x $HOST/bin/python ]]; then
    step "creating $HOST (torch $KIT_TORCH, numpy 2: the machine's stack)"
    "$PYTHON" -m venv "$HOST"
  fi
  "$HOST/bin/python" -m pip install -q --disable-pip-version-check \
    "torch==$KIT_TORCH" 'numpy>=2,<3' 'setuptools<70' wheel ninja \
    $KIT_HOST_PACKAGES
}

mkdir -p "$KIT_DIR"
rm -f "$KIT_DIR"/*.whl
if ! ls "$WHEELS"/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
  host_venv
  step "compiling mmcv 2.1.0 against torch $KIT_TORCH (CPU ops; about 35 min on 2 cores)"
  mkdir -p "$WHEELS"
  build_mmcv "$HOST/bin/python" "$CONSTRAINTS" "$WHEELS.tmp"
  mv "$WHEELS".tmp/mmcv-2.1.0-*.whl "$WHEELS"/ && rm -rf "$WHEELS.tmp"
else
  step "mmcv 2.1.0 for torch $KIT_TORCH and $PYTAG from the cache $WHEELS"
fi
cp "$WHEELS"/mmcv-2.1.0-*.whl "$KIT_DIR"/
step "downloading the wheels of requirements/device_kit.txt for $PYTAG"
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps \
  --only-binary :all: -d "$KIT_DIR" -r requirements/device_kit.txt
count=$(ls "$KIT_DIR"/*.whl | wc -l)
step "wrote $count wheels ($(du -sh "$KIT_DIR" | cut -f1)) to $KIT_DIR"

if [[ $KIT_CHECK == 1 ]]; then
  host_venv
  site=$(mktemp -d)
  step "installing the kit into $site and importing it (python $KIT_PYTHON, torch $KIT_TORCH, numpy 2)"
  "$HOST/bin/python" -m pip install -q --disable-pip-version-check --no-index \
    --no-deps --no-compile --no-cache-dir --target "$site" "$KIT_DIR"/*.whl
  PYTHONPATH=$site:$ROOT "$HOST/bin/python" - <<'PY'
import sys

import numpy
import torch

import mmbdl  # first: restores np.bool8 for MMagic on numpy 2
import mmagic.models  # noqa: F401
import mmcv.ops  # noqa: F401
import mmseg  # noqa: F401
from mmbdl.utils import register_all_modules

register_all_modules()
print(f'[device_kit] imported mmcv.ops, mmseg, mmagic.models and mmbdl: '
      f'python {sys.version.split()[0]}, torch {torch.__version__}, '
      f'numpy {numpy.__version__}, mmcv {mmcv.__version__}, '
      f'mmseg {mmseg.__version__}, mmagic {mmagic.__version__}, '
      f'mmbdl from {mmbdl.__file__}')
PY
  rm -rf "$site"
fi

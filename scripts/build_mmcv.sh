# shellcheck shell=bash
# build_mmcv PYTHON CONSTRAINTS OUT_DIR: compile mmcv 2.1.0 with its ops
# against the torch that PYTHON imports and write the wheel into OUT_DIR.
# Sourced by scripts/setup_env.sh and scripts/device_kit.sh.
#
# mmcv 2.1.0's setup.py asks for -std=c++14/17; torch >= 2.10's headers need
# C++20. On such a torch the sdist is downloaded, unpacked and built with
# -std=c++20 (a build step: nothing installed is patched); an older torch
# builds the release as it is.
build_mmcv() {
  local python=$1 constraints=$2 out=$3 src
  local pip=("$python" -m pip --disable-pip-version-check)
  if ! "$python" -c 'import sys, torch
sys.exit(tuple(map(int, torch.__version__.split(".")[:2])) < (2, 10))'; then
    "${pip[@]}" wheel --no-deps --no-cache-dir --no-build-isolation \
      -c "$constraints" -w "$out" mmcv==2.1.0
    return
  fi
  src=$(mktemp -d)
  "${pip[@]}" download --no-deps --no-cache-dir --no-binary mmcv \
    --no-build-isolation -c "$constraints" -d "$src" mmcv==2.1.0
  tar -xzf "$src"/mmcv-2.1.0.tar.gz -C "$src"
  sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$src"/mmcv-2.1.0/setup.py
  if grep -q -E -- '-std=c\+\+1[47]' "$src"/mmcv-2.1.0/setup.py ||
      ! grep -q -- '-std=c++20' "$src"/mmcv-2.1.0/setup.py; then
    echo "error: could not switch mmcv 2.1.0's setup.py to -std=c++20" >&2
    return 1
  fi
  echo "[build_mmcv] torch >= 2.10: compiling with -std=c++20 in place of c++14/17"
  "${pip[@]}" wheel --no-deps --no-cache-dir --no-build-isolation \
    -c "$constraints" -w "$out" "$src"/mmcv-2.1.0
  rm -rf "$src"
}

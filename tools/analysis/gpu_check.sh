#!/usr/bin/env bash
# One-command GPU check of mmbdl (at most ~10 minutes on one GPU).
#
#   tools/analysis/gpu_check.sh [--dry-run] [--out DIR] [--wheels DIR]
#                               [--config CONFIG] [--python PY]
#
# On a GPU machine with its own stack (e.g. Python 3.12, torch 2.11 + CUDA
# 13, numpy 2) and no network it:
#   1. prepares mmbdl's environment: a venv on top of the machine's torch
#      (--system-site-packages) with the pure-Python dependencies installed
#      from carried wheels (--wheels, default shared/wheels: mmengine,
#      mmsegmentation, mmagic and their small dependencies) and mmcv 2.1.0
#      built with its CUDA ops against that torch from the carried sdist
#      (mmcv-2.1.0.tar.gz; C++ standard raised to what the torch headers
#      need, CUDA arch of this GPU only, to keep the build short);
#   2. builds or verifies mmcv's CUDA ops (a CUDA op against its CPU
#      result);
#   3. runs fp32 and AMP (bf16) steps of M (adaptation, 1280x720 + 1024x512)
#      and F (translation, 452x452 crops, batch 4) at the paper sizes:
#      step time, ratio, peak memory;
#   4. runs 20 iterations of each phase kind under 1-GPU NCCL DDP;
#   5. runs the rehearsal's --plan-only projection with the measured GPU
#      throughput and step times;
#   6. prints one table (also OUT/gpu_check.md, OUT/gpu_check.json).
# Anything that blocks a step is reported as BLOCKED with the exact cause
# and the fix; later steps that need it are skipped.
#
# --dry-run: CPU only, the current environment, tiny sizes, gloo; no
# install, no build. CI runs it (tests/test_tools/test_gpu_check.py).
set -u
cd "$(dirname "$0")/../.."
REPO=$(pwd)
DRY=0
OUT=work_dirs/gpu_check
WHEELS=shared/wheels
CONFIG=configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py
PY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --out) OUT=$2; shift ;;
        --wheels) WHEELS=$2; shift ;;
        --config) CONFIG=$2; shift ;;
        --python) PY=$2; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROWS="$OUT/rows.tsv"
: > "$ROWS"
START=$(date +%s)

row() {  # step, status, detail
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$ROWS"
    echo "[gpu_check] $1: $2 - $3"
}

# ---------------------------------------------------------------- 1. env
if [ "$DRY" = 1 ]; then
    if [ -z "$PY" ]; then
        if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
    fi
    DEVICE=cpu
    BACKEND=gloo
    SIZES=(--source-size 64 48 --target-size 64 32 --crop 32
           --translation-batch 2 --depth 18)
    ITERS=1
    WARMUP=0
    row env "dry run" "CPU, existing environment ($PY), tiny sizes, gloo"
else
    BASE_PY=${PY:-python3}
    if ! "$BASE_PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        row env BLOCKED "$BASE_PY has no CUDA-enabled torch (or no GPU is visible); install the machine's torch or pass --python"
        DEVICE=none
    else
        DEVICE=cuda
        TORCH=$("$BASE_PY" -c 'import torch; print(torch.__version__, torch.version.cuda)')
        VENV="$OUT/venv"
        if [ ! -x "$VENV/bin/python" ]; then
            "$BASE_PY" -m venv --system-site-packages "$VENV"
        fi
        PY="$VENV/bin/python"
        if [ ! -d "$WHEELS" ]; then
            row env BLOCKED "no wheel folder $WHEELS: carry the pure-Python wheels (pip download --no-deps -d shared/wheels mmengine==0.10.7 mmsegmentation==1.2.2 mmagic==1.2.0 addict yapf termcolor ftfy regex prettytable einops) and mmcv-2.1.0.tar.gz"
            DEVICE=none
        elif ! "$PY" -m pip install -q --no-index --find-links "$WHEELS" --no-deps \
                mmengine==0.10.7 mmsegmentation==1.2.2 mmagic==1.2.0 \
                addict yapf termcolor ftfy regex prettytable einops \
                > "$OUT/pip.log" 2>&1; then
            row env BLOCKED "pip could not install from $WHEELS (see $OUT/pip.log: the missing wheel is named there; carry it)"
            DEVICE=none
        else
            row env ok "venv on torch $TORCH with the carried wheels"
        fi
    fi
    BACKEND=nccl
    SIZES=(--source-size 1280 720 --target-size 1024 512 --crop 452
           --translation-batch 4)
    ITERS=20
    WARMUP=1
fi

# ------------------------------------------------------- 2. mmcv CUDA ops
if [ "$DRY" = 0 ] && [ "$DEVICE" = cuda ]; then
    if ! "$PY" -c 'import mmcv.ops' 2>/dev/null; then
        SDIST=$(ls "$WHEELS"/mmcv-2.1.0.tar.gz 2>/dev/null | head -1)
        if [ -z "$SDIST" ]; then
            row mmcv BLOCKED "mmcv with ops is not installed and $WHEELS/mmcv-2.1.0.tar.gz is missing; carry the sdist (pip download --no-binary :all: --no-deps mmcv==2.1.0)"
            DEVICE=none
        else
            BUILD="$OUT/mmcv_build"
            rm -rf "$BUILD" && mkdir -p "$BUILD"
            tar -xzf "$SDIST" -C "$BUILD"
            SRC=$(ls -d "$BUILD"/mmcv-2.1.0)
            STD=$("$PY" -c 'import torch; v=tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); print("c++20" if v >= (2, 10) else "c++17")')
            # mmcv 2.1.0 hard-codes an older C++ standard; newer torch headers need more
            sed -i "s/-std=c++14/-std=$STD/g; s/-std=c++17/-std=$STD/g" "$SRC/setup.py"
            ARCH=$("$PY" -c 'import torch; c=torch.cuda.get_device_capability(); print(f"{c[0]}.{c[1]}")')
            if ( cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCH" \
                    MAX_JOBS=$(nproc) "$PY" -m pip install -q --no-build-isolation \
                    --no-index --no-deps . ) > "$OUT/mmcv_build.log" 2>&1; then
                row mmcv ok "built mmcv 2.1.0 ops for sm_$ARCH with -std=$STD"
            else
                row mmcv BLOCKED "mmcv ops build failed: $(grep -m1 -E 'error' "$OUT/mmcv_build.log" | cut -c1-200) (full log $OUT/mmcv_build.log)"
                DEVICE=none
            fi
        fi
    fi
    if [ "$DEVICE" = cuda ]; then
        "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . >> "$OUT/pip.log" 2>&1
    fi
fi
if [ "$DEVICE" != none ]; then
    if "$PY" - "$DEVICE" > "$OUT/ops.log" 2>&1 <<'EOF'
import sys
import torch
from mmcv.ops import roi_align
device = sys.argv[1]
x = torch.randn(1, 4, 16, 16)
rois = torch.tensor([[0, 1.0, 1.0, 9.0, 9.0]])
ref = roi_align(x, rois, (3, 3), 1.0, 2, 'avg', True)
out = roi_align(x.to(device), rois.to(device), (3, 3), 1.0, 2, 'avg', True)
err = (out.cpu() - ref).abs().max().item()
assert err < 1e-5, err
print(f'roi_align on {device} matches CPU (max diff {err:.1e})')
EOF
    then
        row mmcv-ops ok "$(tail -1 "$OUT/ops.log")"
    else
        row mmcv-ops FAILED "$(tail -1 "$OUT/ops.log")"
    fi
fi

# -------------------------------- 3. fp32 vs AMP; 4. 1-GPU DDP, every kind
if [ "$DEVICE" != none ]; then
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
    if "$PY" tools/analysis/benchmark_ddp.py "$CONFIG" --nprocs 1 \
            --device "$DEVICE" --backend "$BACKEND" --iters "$ITERS" \
            --warmup "$WARMUP" "${SIZES[@]}" --kinds source_only translation \
            adaptation self_training --json "$OUT/fp32.json" \
            > "$OUT/fp32.log" 2>&1; then
        row ddp-fp32 ok "$ITERS iterations of each phase kind, 1 process, $BACKEND"
    else
        row ddp-fp32 FAILED "$(grep -E 'Error|error' "$OUT/fp32.log" | tail -1 | cut -c1-200) (log $OUT/fp32.log)"
    fi
    if [ "$DEVICE" = cpu ]; then
        row amp skipped "dry run: MMEngine's AmpOptimWrapper needs a GPU"
    elif "$PY" tools/analysis/benchmark_ddp.py "$CONFIG" --nprocs 1 \
            --device "$DEVICE" --backend "$BACKEND" --iters 3 --warmup 1 \
            "${SIZES[@]}" --kinds adaptation translation --amp \
            --json "$OUT/amp.json" > "$OUT/amp.log" 2>&1; then
        row amp ok "bf16 autocast steps of M and F"
    else
        row amp FAILED "$(grep -E 'Error|error' "$OUT/amp.log" | tail -1 | cut -c1-200) (log $OUT/amp.log)"
    fi
fi

# ------------------------------------- 5. projection with measured figures
if [ "$DEVICE" != none ] && [ -f "$OUT/fp32.json" ]; then
    "$PY" - "$OUT" "$DEVICE" <<'EOF' > "$OUT/throughput.log" 2>&1
import json, os.path as osp, sys
sys.path.insert(0, 'tools/analysis')
import torch
from rehearsal.device import conv_throughput
out, device = sys.argv[1], sys.argv[2]
flops = conv_throughput(device, seconds=1.0 if device == 'cuda' else 0.2)
with open(osp.join(out, 'fp32.json')) as f:
    fp32 = json.load(f)['table']
steps = {k: v['step_seconds'] for k, v in fp32['1'].items()}
name = torch.cuda.get_device_name(0) if device == 'cuda' else 'CPU dry run'
json.dump(dict(tflops=flops / 1e12, step_seconds=steps,
               note=f'measured by gpu_check.sh on {name} (fp32 steps at '
               'the sizes of its table; conv throughput of a 3x3 dilated '
               'conv)'), open(osp.join(out, 'gpu.json'), 'w'), indent=2)
print(f'{flops / 1e12:.2f} TFLOP/s')
EOF
    if [ -f "$OUT/gpu.json" ]; then
        row throughput ok "$(tail -1 "$OUT/throughput.log") (3x3 dilated conv fwd+bwd)"
        if "$PY" tools/analysis/rehearse.py "$CONFIG" --plan-only \
                --gpu-json "$OUT/gpu.json" --work-dir "$OUT/rehearsal" \
                > "$OUT/plan.log" 2>&1; then
            row plan ok "rehearse.py --plan-only: GPU total $(grep -m1 '^| \*\*total' "$OUT/plan.log" | awk -F'|' '{print $5}' | tr -d ' *')"
        else
            row plan FAILED "$(grep -E 'Error|error' "$OUT/plan.log" | tail -1 | cut -c1-200)"
        fi
    else
        row throughput FAILED "$(tail -1 "$OUT/throughput.log")"
    fi
fi

# ---------------------------------------------------------------- 6. table
"${PY:-python3}" - "$OUT" "$(( $(date +%s) - START ))" <<'EOF'
import json, os.path as osp, sys
out, seconds = sys.argv[1], sys.argv[2]
lines = ['| check | status | detail |', '| --- | --- | --- |']
for line in open(osp.join(out, 'rows.tsv')):
    step, status, detail = line.rstrip('\n').split('\t')
    lines.append(f'| {step} | {status} | {detail} |')
runs = {}
for name in ('fp32', 'amp'):
    path = osp.join(out, f'{name}.json')
    if osp.exists(path):
        runs[name] = json.load(open(path))['table']['1']
if runs:
    lines += ['', '| phase kind | fp32 step s | fp32 peak GB | AMP step s | '
              'AMP peak GB | fp32 / AMP |', '| --- | --- | --- | --- | --- | --- |']
    for kind, r in runs.get('fp32', {}).items():
        a = runs.get('amp', {}).get(kind)
        amp = (f'{a["step_seconds"]:.3f} | {a["peak_bytes"] / 1e9:.2f} | '
               f'{r["step_seconds"] / a["step_seconds"]:.2f}x') if a else 'n/a | n/a | n/a'
        lines.append(f'| {kind} | {r["step_seconds"]:.3f} | '
                     f'{r["peak_bytes"] / 1e9:.2f} | {amp} |')
lines.append('')
lines.append(f'total time: {seconds} s')
text = '\n'.join(lines)
print(text)
open(osp.join(out, 'gpu_check.md'), 'w').write(text + '\n')
rows = [l.rstrip('\n').split('\t') for l in open(osp.join(out, 'rows.tsv'))]
json.dump(dict(rows=rows, runs=runs, seconds=int(seconds)),
          open(osp.join(out, 'gpu_check.json'), 'w'), indent=2)
EOF
if grep -q -P '\t(BLOCKED|FAILED)\t' "$ROWS"; then exit 1; fi
exit 0

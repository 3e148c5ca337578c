#!/usr/bin/env bash
# One-command GPU check of mmbdl, sized for one call on a lent GPU machine
# (under 8 minutes on one GPU, installation included).
#
#   tools/analysis/gpu_check.sh [--dry-run] [--out DIR] [--kit DIR]
#       [--python PY] [--config CONFIG] [--release PATH] [--only STEPS]
#
# The machine has its own Python (often itself a venv, e.g.
# /opt/torch/.venv/bin/python3 with torch 2.11 + CUDA 13 and numpy 2) and no
# network. The script:
#   env     installs the kit's wheels (--kit DIR: mmcv built against that
#           torch, mmengine, mmsegmentation, mmagic and the packages they
#           import; `pip install --no-index --no-deps --target`) into a
#           folder put first on PYTHONPATH, with the checkout itself: no
#           nested venv (a venv made from a venv does not see its torch),
#           nothing built; skipped when the stack already imports;
#   ops     says whether mmcv has CUDA ops (mmbdl's models use none) and,
#           if so, compares one with its CPU result;
#   steps   times M (source-only, adaptation, self-training: 1280x720 +
#           1024x512) and F (translation: 452x452 crops, batch 4) at the
#           paper sizes in float32 (every phase kind, 1-process NCCL DDP),
#           float16 and bfloat16 AMP: step time and peak memory;
#   tier    runs the cuda test tier (tests/test_cuda);
#   demo    runs the whole demo (configs/bdl/bdl_demo.py) on the GPU;
#   release times M's step against the release's (--release PATH: a local
#           copy of the original BDL code; skipped without it);
#   plan    runs the rehearsal's --plan-only projection with the measured
#           throughput and step times.
# Every step has its own time limit, and its result (ok, FAILED, BLOCKED,
# TIMEOUT, skipped, with the cause) is one row of the table. Everything
# that comes back is packed into at most 4 files in --out: gpu_check.md
# (the table), gpu_check.json, gpu.json (measured throughput) and logs.tgz
# (every log).
#
# --dry-run: the CPU, tiny sizes, gloo, no cuda tier/demo; with --kit and
# --python it installs the kit like a real run (CI does, with a venv
# interpreter standing in for the device's: tests/test_tools/test_gpu_check.py).
# --only STEPS: a comma-separated subset of the steps above (e.g. to rerun
# one that timed out); env always runs.
set -u
cd "$(dirname "$0")/../.."
REPO=$(pwd)
DRY=0
OUT=work_dirs/gpu_check
KIT=""
CONFIG=configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py
PY=""
RELEASE=""
ONLY="ops,steps,tier,demo,release,plan"
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY=1 ;;
        --out) OUT=$2; shift ;;
        --kit) KIT=$2; shift ;;
        --config) CONFIG=$2; shift ;;
        --python) PY=$2; shift ;;
        --release) RELEASE=$2; shift ;;
        --only) ONLY=$2; shift ;;
        -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mmbdl_gpu_check.XXXXXX")
LOGS="$WORK/logs"
mkdir -p "$LOGS"
ROWS="$WORK/rows.tsv"
: > "$ROWS"
START=$(date +%s)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} PYTHONUNBUFFERED=1

row() {  # step, status, detail
    printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$ROWS"
    echo "[gpu_check] $(date +%T) $1: $2 - $3"
}
wanted() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
last_error() {  # the last line of a log that names an error
    grep -E 'Error|error|BLOCKED|Traceback' "$1" | tail -1 | cut -c1-220
}
# run STEP SECONDS LOG CMD...: one step with its time limit
run() {
    local step=$1 limit=$2 log=$3 rc
    shift 3
    timeout --kill-after=10 "$limit" "$@" > "$log" 2>&1
    rc=$?
    if [ $rc = 124 ] || [ $rc = 137 ]; then
        row "$step" TIMEOUT "over its ${limit} s limit (rerun with --only $step; log logs/$(basename "$log"))"
        return 1
    elif [ $rc != 0 ]; then
        row "$step" FAILED "$(last_error "$log") (log logs/$(basename "$log"))"
        return 1
    fi
    return 0
}

# ---------------------------------------------------------------- env
STACK_CHECK='import mmbdl, mmcv, mmcv.ops, mmengine, mmseg, mmagic.models, torch, numpy; print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), numpy {numpy.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmseg {mmseg.__version__}, mmagic {mmagic.__version__}")'
if [ -z "$PY" ]; then
    if [ "$DRY" = 1 ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python
    else PY=python3; fi
fi
READY=1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
if [ "$DRY" = 1 ]; then
    DEVICE=cpu BACKEND=gloo ITERS=1 WARMUP=0
    SIZES=(--source-size 64 48 --target-size 64 32 --crop 32
           --translation-batch 2 --depth 18)
else
    DEVICE=cuda BACKEND=nccl ITERS=5 WARMUP=1
    SIZES=(--source-size 1280 720 --target-size 1024 512 --crop 452
           --translation-batch 4)
    if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' > "$LOGS/torch.log" 2>&1; then
        row env BLOCKED "$PY has no CUDA-enabled torch or sees no GPU ($(tail -1 "$LOGS/torch.log" | cut -c1-120)); pass --python with the machine's interpreter"
        READY=0
    fi
fi
if [ "$READY" = 1 ] && [ -n "$KIT" ]; then
    SITE="$WORK/site"
    if ! ls "$KIT"/*.whl > /dev/null 2>&1; then
        row env BLOCKED "no wheels in --kit $KIT: carry the kit (make device-kit, or the wheels of mmcv built against this torch, mmengine, mmsegmentation, mmagic and their imports)"
        READY=0
    elif ! "$PY" -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --target "$SITE" "$KIT"/*.whl \
            > "$LOGS/pip.log" 2>&1; then
        row env BLOCKED "pip could not install the kit into $SITE: $(last_error "$LOGS/pip.log") (logs/pip.log)"
        READY=0
    else
        export PYTHONPATH="$SITE:$PYTHONPATH"
    fi
fi
if [ "$READY" = 1 ]; then
    if "$PY" -c "$STACK_CHECK" > "$LOGS/stack.log" 2>&1; then
        row env ok "$( [ -n "$KIT" ] && echo "kit $(ls "$KIT"/*.whl | wc -l) wheels installed into a PYTHONPATH folder; " )$(tail -1 "$LOGS/stack.log")"
    else
        row env BLOCKED "the stack does not import with $PY: $(last_error "$LOGS/stack.log") ($( [ -n "$KIT" ] && echo "the kit's wheels do not fit this Python/torch: rebuild mmcv against it" || echo "pass --kit DIR with the wheels"); logs/stack.log)"
        READY=0
    fi
fi

# ---------------------------------------------------------------- ops
if [ "$READY" = 1 ] && wanted ops; then
    if [ "$DRY" = 1 ]; then
        row ops skipped "dry run: the CPU only, no CUDA op to compare with its CPU result"
    elif "$PY" - > "$LOGS/ops.log" 2>&1 <<'EOF'
import torch
from mmcv.ops import roi_align
x = torch.randn(1, 4, 16, 16)
rois = torch.tensor([[0, 1.0, 1.0, 9.0, 9.0]])
ref = roi_align(x, rois, (3, 3), 1.0, 2, 'avg', True)
try:
    out = roi_align(x.cuda(), rois.cuda(), (3, 3), 1.0, 2, 'avg', True)
except (RuntimeError, NotImplementedError) as err:
    print(f'CPU-only mmcv ops ({str(err).splitlines()[0][:80]}); '
          "mmbdl's models use no mmcv op")
else:
    err = (out.cpu() - ref).abs().max().item()
    assert err < 1e-5, err
    print(f'roi_align on CUDA matches the CPU (max diff {err:.1e})')
EOF
    then
        row ops ok "$(tail -1 "$LOGS/ops.log")"
    else
        row ops FAILED "$(last_error "$LOGS/ops.log") (logs/ops.log)"
    fi
fi

# ---------------------------------------------------------------- steps
if [ "$READY" = 1 ] && wanted steps; then
    if run steps-fp32 $([ "$DRY" = 1 ] && echo 600 || echo 75) \
            "$LOGS/steps_fp32.log" "$PY" tools/analysis/benchmark_ddp.py \
            "$CONFIG" --nprocs 1 --device "$DEVICE" --backend "$BACKEND" \
            --iters "$ITERS" --warmup "$WARMUP" "${SIZES[@]}" --kinds \
            source_only translation adaptation self_training \
            --json "$WORK/fp32.json"; then
        row steps-fp32 ok "$ITERS iterations of every phase kind, 1 process, $BACKEND"
    fi
    for dtype in float16 bfloat16; do
        if [ "$DRY" = 1 ]; then
            row "steps-$dtype" skipped "dry run: MMEngine's AmpOptimWrapper needs a GPU"
        elif run "steps-$dtype" 50 "$LOGS/steps_$dtype.log" "$PY" \
                tools/analysis/benchmark_ddp.py "$CONFIG" --nprocs 1 \
                --device cuda --backend nccl --iters "$ITERS" --warmup 1 \
                "${SIZES[@]}" --kinds adaptation translation --dtype "$dtype" \
                --json "$WORK/$dtype.json"; then
            row "steps-$dtype" ok "$dtype AMP steps of M and F"
        fi
    done
fi

# ---------------------------------------------------------------- tier
if [ "$READY" = 1 ] && wanted tier; then
    if [ "$DRY" = 1 ]; then
        if run tier 120 "$LOGS/tier.log" "$PY" -m pytest tests/test_cuda \
                -m cuda --collect-only -q -p no:cacheprovider; then
            row tier skipped "dry run: $(grep -cE '::' "$LOGS/tier.log") cuda tests collected, not run"
        fi
    elif run tier 150 "$LOGS/tier.log" "$PY" -m pytest tests/test_cuda -m cuda \
            -q -p no:cacheprovider -rs; then
        row tier ok "$(tail -1 "$LOGS/tier.log")"
    fi
fi

# ---------------------------------------------------------------- demo
if [ "$READY" = 1 ] && wanted demo; then
    if [ "$DRY" = 1 ]; then
        row demo skipped "dry run: the whole demo is a GPU (or make demo) run"
    else
        T0=$(date +%s)
        if run demo-data 30 "$LOGS/demo_data.log" "$PY" tools/make_demo_data.py \
                --out data/demo && run demo 110 "$LOGS/demo.log" "$PY" \
                tools/train.py configs/bdl/bdl_demo.py --work-dir "$WORK/demo"; then
            cp "$WORK/demo/bdl_rounds.md" "$LOGS/demo_rounds.md"
            row demo ok "configs/bdl/bdl_demo.py on CUDA in $(( $(date +%s) - T0 )) s (data included); round table below"
        fi
    fi
fi

# ---------------------------------------------------------------- release
if [ "$READY" = 1 ] && wanted release; then
    if [ -z "$RELEASE" ]; then
        row release skipped "no --release PATH (a local copy of the original BDL code: model/deeplab.py, model/discriminator.py)"
    elif run release 60 "$LOGS/release.log" "$PY" \
            tools/analysis/benchmark_segmentor.py --compare-release "$RELEASE" \
            --device "$DEVICE" --repeats 3 \
            $([ "$DRY" = 1 ] && echo "--source-size 64 48 --target-size 64 32" \
              || echo "--source-size 1280 720 --target-size 1024 512"); then
        row release ok "$(grep -m1 -iE 'parity|release' "$LOGS/release.log" | cut -c1-200)"
    fi
fi

# ------------------------------------- plan: projection with measured figures
if [ "$READY" = 1 ] && wanted plan && [ -f "$WORK/fp32.json" ]; then
    if run throughput 60 "$LOGS/throughput.log" "$PY" - "$WORK" "$DEVICE" <<'EOF'
import json, os.path as osp, sys
sys.path.insert(0, 'tools/analysis')
import torch
from rehearsal.device import conv_throughput
out, device = sys.argv[1], sys.argv[2]
flops = conv_throughput(device, seconds=1.0 if device == 'cuda' else 0.2)
with open(osp.join(out, 'fp32.json')) as f:
    fp32 = json.load(f)['table']['1']
steps = {k: v['step_seconds'] for k, v in fp32.items()}
name = torch.cuda.get_device_name(0) if device == 'cuda' else 'CPU dry run'
json.dump(dict(tflops=flops / 1e12, step_seconds=steps,
               note=f'measured by gpu_check.sh on {name} (fp32 steps at '
               'the sizes of its table; conv throughput of a 3x3 dilated '
               'conv)'), open(osp.join(out, 'gpu.json'), 'w'), indent=2)
print(f'{flops / 1e12:.2f} TFLOP/s')
EOF
    then
        row throughput ok "$(tail -1 "$LOGS/throughput.log") (3x3 dilated conv fwd+bwd)"
        cp "$WORK/gpu.json" "$OUT/gpu.json"
        if run plan 60 "$LOGS/plan.log" "$PY" tools/analysis/rehearse.py \
                "$CONFIG" --plan-only --gpu-json "$WORK/gpu.json" \
                --work-dir "$WORK/rehearsal"; then
            row plan ok "rehearse.py --plan-only: GPU total $(grep -m1 '^| \*\*total' "$LOGS/plan.log" | awk -F'|' '{print $5}' | tr -d ' *')"
        fi
    fi
fi

# ---------------------------------------------------------------- table
TABLE_PY=$PY
"$TABLE_PY" -c 'import json' 2>/dev/null || TABLE_PY=python3
"$TABLE_PY" - "$WORK" "$OUT" "$(( $(date +%s) - START ))" <<'EOF' | tee "$LOGS/table.log"
import json, os.path as osp, sys
work, out, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [l.rstrip('\n').split('\t') for l in open(osp.join(work, 'rows.tsv'))]
lines = ['| check | status | detail |', '| --- | --- | --- |']
lines += [f'| {s} | {st} | {d} |' for s, st, d in rows]
runs = {}
for name in ('fp32', 'float16', 'bfloat16'):
    path = osp.join(work, f'{name}.json')
    if osp.exists(path):
        runs[name] = json.load(open(path))['table']['1']
if runs:
    names = [n for n in ('fp32', 'float16', 'bfloat16') if n in runs]
    lines += ['', '| phase kind | ' + ' | '.join(
        f'{n} step s | {n} peak GB' for n in names) + ' |',
        '| --- |' + ' --- | --- |' * len(names)]
    for kind in runs[names[0]]:
        cells = []
        for n in names:
            r = runs[n].get(kind)
            cells.append(f'{r["step_seconds"]:.3f} | {r["peak_bytes"] / 1e9:.2f}'
                         if r else 'n/a | n/a')
        lines.append(f'| {kind} | ' + ' | '.join(cells) + ' |')
demo = osp.join(work, 'logs', 'demo_rounds.md')
if osp.exists(demo):
    lines += ['', 'demo round table on CUDA:', '', open(demo).read().strip()]
lines += ['', f'total time: {seconds} s']
text = '\n'.join(lines)
print(text)
open(osp.join(out, 'gpu_check.md'), 'w').write(text + '\n')
json.dump(dict(rows=rows, runs=runs, seconds=seconds),
          open(osp.join(out, 'gpu_check.json'), 'w'), indent=2)
EOF
STATUS=0
grep -q -P '\t(BLOCKED|FAILED|TIMEOUT)\t' "$ROWS" && STATUS=1
tar -czf "$OUT/logs.tgz" -C "$WORK" logs
rm -rf "$WORK"
exit $STATUS

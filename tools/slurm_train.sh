#!/usr/bin/env bash
# Train on a Slurm cluster, one process per GPU, started by srun:
#   [GPUS=16] [GPUS_PER_NODE=8] tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args]
# e.g. GPUS=8 tools/slurm_train.sh gpu bdl_gta5 \
#        configs/bdl/bdl_deeplabv2-r101_1xb1-k2n2_gta5-to-cityscapes-1024x512.py \
#        --work-dir work_dirs/bdl_gta5
# Environment: GPUS (total processes, default 1), GPUS_PER_NODE (default
# min(GPUS, 8)), CPUS_PER_TASK (default 5), SRUN_ARGS (extra srun options),
# PYTHON (the interpreter; default the project's .venv, else python). Every process runs
# tools/train.py --launcher slurm, which reads the rank, world size and
# master address from Slurm's variables (MASTER_PORT, default 29500).
set -euo pipefail
if [[ $# -lt 3 ]]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG [tools/train.py args]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-1}
GPUS_PER_NODE=${GPUS_PER_NODE:-$(( GPUS < 8 ? GPUS : 8 ))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
DIR=$(cd "$(dirname "$0")" && pwd)
# The interpreter: $PYTHON if set, else the project venv of $STACK (.venv,
# or .venv-current for STACK=current, as make sets it), else python.
if [[ -z ${PYTHON:-} ]]; then
  PYTHON=python
  VENV_DIR=$DIR/../.venv$([[ ${STACK:-} == current ]] && echo -current)
  [[ -x $VENV_DIR/bin/python ]] && PYTHON=$VENV_DIR/bin/python
fi

# shellcheck disable=SC2086  # SRUN_ARGS holds several options
PYTHONPATH="$DIR/..":${PYTHONPATH:-} \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "$PYTHON" -u "$DIR/train.py" "$CONFIG" --launcher slurm "${@:4}"

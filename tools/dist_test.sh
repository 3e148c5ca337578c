#!/usr/bin/env bash
# Distributed testing with torchrun: tools/dist_test.sh CONFIG CHECKPOINT GPUS [args]
# On machines without GPUs the processes use gloo on the CPU.
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
DIR=$(cd "$(dirname "$0")" && pwd)
# The interpreter: $PYTHON if set, else the project venv of $STACK (.venv,
# or .venv-current for STACK=current, as make sets it), else python.
if [[ -z ${PYTHON:-} ]]; then
  PYTHON=python
  VENV_DIR=$DIR/../.venv$([[ ${STACK:-} == current ]] && echo -current)
  [[ -x $VENV_DIR/bin/python ]] && PYTHON=$VENV_DIR/bin/python
fi

PYTHONPATH="$DIR/..":${PYTHONPATH:-} \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$DIR/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"

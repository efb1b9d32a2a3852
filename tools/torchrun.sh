#!/usr/bin/env bash
# Start NPROC processes of a script of tools/ with torchrun (one process per
# GPU; gloo on CPU). The launcher behind dist_train.sh and dist_test.sh.
#   tools/torchrun.sh SCRIPT NPROC [script args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as in mmsegmentation;
# PYTHON chooses the interpreter.
SCRIPT=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" \
    --master_port="$PORT" \
    "$(dirname "$0")/$SCRIPT" \
    "${@:3}"

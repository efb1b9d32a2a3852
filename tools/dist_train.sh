#!/usr/bin/env bash
# Multi-process training with torchrun (one process per GPU; gloo on CPU).
#   tools/dist_train.sh CONFIG NPROC [train.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as in mmsegmentation.
exec bash "$(dirname "$0")/torchrun.sh" train.py "$2" "$1" \
    --launcher pytorch "${@:3}"

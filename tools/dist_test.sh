#!/usr/bin/env bash
# Multi-process evaluation with torchrun.
#   tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as in mmsegmentation.
exec bash "$(dirname "$0")/torchrun.sh" test.py "$3" "$1" "$2" \
    --launcher pytorch "${@:4}"

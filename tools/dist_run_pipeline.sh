#!/usr/bin/env bash
# A pipeline whose training, inference and test stages run in NPROC
# processes each (one per GPU; gloo on CPU).
#   tools/dist_run_pipeline.sh PIPELINE_CONFIG NPROC [run_pipeline.py args]
PYTHON=${PYTHON:-python}
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
exec "$PYTHON" "$(dirname "$0")/run_pipeline.py" "$1" --nproc "$2" "${@:3}"

#!/usr/bin/env bash
# Submit a tune-stop search to a running Ray cluster with `ray job submit`.
#
#   RAY_ADDRESS=http://<head>:8265 examples/submit.sh gan-mnist s3://my-bucket/tune-stop [extra flags]
#
# GPUS_PER_TRIAL (default 0.25) is each trial's share of a GPU; 0 runs on CPUs.
#
# The repository is shipped to the cluster as the job's working directory (files in
# .gitignore, such as .venv, are left out), so tune_stop, search_spaces and analysis are
# importable on the driver and on every worker without installing the package there.
set -euo pipefail
space=${1:?usage: submit.sh SPACE STORAGE_URI [tune-stop search flags]}
storage=${2:?usage: submit.sh SPACE STORAGE_URI [tune-stop search flags]}
shift 2
cd "$(dirname "$0")/.."
exec ray job submit --address "${RAY_ADDRESS:?set RAY_ADDRESS to the dashboard of the head node, e.g. http://head:8265}" \
  --working-dir . \
  -- python -m tune_stop.app.cli search "$space" --storage-path "$storage" --gpus-per-trial "${GPUS_PER_TRIAL:-0.25}" --quiet "$@"

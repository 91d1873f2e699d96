#!/usr/bin/env bash
# Runs a command with a real three-node Slurm cluster up (scripts/slurm/local_cluster.sh), exporting SLURM_CONF to it,
# and stops the cluster by pid afterwards however the command ends. `make test` runs the test suite this way, so the
# sharded-build tests submit real jobs.
#
#   scripts/slurm/with_cluster.sh COMMAND [ARGUMENT...]
#
# Without root (the daemons run as root) the command runs without a cluster, and says so loudly: the Slurm tests are
# then skipped, which .ci/run does not allow.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ] || ! command -v slurmctld >/dev/null; then
  printf '\n*** no Slurm cluster: %s; the Slurm tests will be skipped ***\n\n' \
    "$([ "$(id -u)" != 0 ] && echo "not root" || echo "slurmctld not installed (scripts/setup.sh installs it)")" >&2
  exec "$@"
fi
state=$(mktemp -d "${TMPDIR:-/tmp}/ep-slurm.XXXXXX")
trap '"$here/local_cluster.sh" stop "$state"; rm -rf "$state"' EXIT
eval "$("$here/local_cluster.sh" start "$state")"
echo "with_cluster: Slurm cluster up (SLURM_CONF=$SLURM_CONF; nodes: $(sinfo -h -N -o '%N' | tr '\n' ' '))" >&2
"$@"

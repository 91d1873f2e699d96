#!/bin/sh
# Runs a sharded build (a plan made by `ep shards plan`) with nothing but a POSIX shell and xargs, following the
# contract of docs/shards.md: the merge starts at once, in the background, and takes the shards in order as they
# appear; the extractions run JOBS at a time, each retried a few times. Any engine that can run N commands (GNU
# parallel, Ray, Kubernetes Jobs, Slurm) does the same: run `ep shards extract RUN --index I` for every I, and
# `ep shards merge RUN -o DICT` once.
#
#   scripts/shards/run_local.sh RUN DICT [JOBS]
#
# EP names the ep binary (default: ep on the PATH). Exits 0 when DICT is written; otherwise the merge's status or 1.
set -eu
EP=${EP:-ep}
if [ $# -lt 2 ]; then
    echo "usage: $0 RUN DICT [JOBS]" >&2
    exit 64
fi
RUN=$1
DICT=$2
JOBS=${3:-1}

# The number of shards, from the plan (ep shards status --json prints "shard_count": N on a line of its own).
count=$("$EP" shards status "$RUN" --json | sed -n 's/^  "shard_count": \([0-9][0-9]*\),$/\1/p')
if [ -z "$count" ]; then
    echo "$0: cannot read the plan in $RUN" >&2
    exit 1
fi

# The merge waits for each shard in turn (up to an hour without a new one) and clusters it as soon as it is there.
"$EP" shards merge "$RUN" -o "$DICT" --wait 3600 &
merge=$!

# Every shard, JOBS at a time, in any order; a failed extraction is tried again (exit 75: another process holds the
# shard's lock; an extraction of a shard that is already there exits 0 at once).
if ! seq 0 $((count - 1)) | xargs -n 1 -P "$JOBS" sh -c '
        for attempt in 1 2 3; do
            "$0" shards extract "$1" --index "$2" && exit 0
            sleep 1
        done
        exit 1' "$EP" "$RUN"; then
    echo "$0: some shards could not be extracted; see $EP shards status $RUN" >&2
    kill "$merge" 2>/dev/null || true   # SIGTERM: the merge stops cleanly with a resumable dictionary
    wait "$merge" || true
    exit 1
fi
wait "$merge"

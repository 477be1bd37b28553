#!/usr/bin/env bash
# Stop the daemons .ci/slurm-up.sh started, by their pid files, in reverse order.
set -u
for pidfile in /run/slurm/slurmd.pid /run/slurm/slurmctld.pid /run/munge/munged.pid; do
    if [ -s "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
done

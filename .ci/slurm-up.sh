#!/usr/bin/env bash
# A one-node Slurm for the Slurm backend's tests (tests/study/test_slurm.py), after ../shared/slurm-testbed.md:
# Debian's slurmctld, slurmd, slurm-client and munge, four stand-in GPUs through GRES, the daemons started by hand
# (no systemd). Needs root and apt. Idempotent: a Slurm that already answers is left as it is.
# Stop it with .ci/slurm-down.sh (the daemons are killed by their pid files, in reverse order).
set -euo pipefail

if sinfo --noheader >/dev/null 2>&1; then
    echo "slurm-up: a Slurm controller already answers; nothing started"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "slurm-up: needs root (apt-get, daemons)" >&2
    exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc --all)  # not plain nproc: it honours OMP_NUM_THREADS, which the tests set to 1
memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))  # MiB, 80 %: room for the OS
# Stand-in GPUs: GRES needs character devices to name (links to /dev/null here: no mknod needed in a container);
# Slurm then gives each job its own CUDA_VISIBLE_DEVICES.
gpu_dir=/var/lib/slurm/stand-in-gpus
mkdir -p "$gpu_dir" /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
for i in 0 1 2 3; do ln -sfn /dev/null "$gpu_dir/gpu$i"; done
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=$host
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
GresTypes=gpu
NodeName=$host CPUs=$cpus RealMemory=$memory Gres=gpu:4 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
echo "NodeName=$host Name=gpu File=$gpu_dir/gpu[0-3]" > /etc/slurm/gres.conf
chown -R slurm:slurm /var/lib/slurm/slurmctld
mkdir -p /run/slurm /run/munge
chown slurm:slurm /run/slurm
chown munge:munge /run/munge
[ -s /etc/munge/munge.key ] || { mungekey --create --force 2>/dev/null || create-munge-key -f; }

runuser -u munge -- /usr/sbin/munged
/usr/sbin/slurmctld
/usr/sbin/slurmd
for _ in $(seq 60); do
    state=$(sinfo --noheader --format=%t 2>/dev/null || true)
    if [ "$state" = idle ]; then
        echo "slurm-up: node $host idle ($cpus CPUs, ${memory} MiB, 4 stand-in GPUs)"
        exit 0
    fi
    sleep 0.5
done
echo "slurm-up: the node did not become idle; see /var/log/slurm/" >&2
sinfo >&2 || true
exit 1

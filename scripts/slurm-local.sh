#!/usr/bin/env bash
# A one-node Slurm cluster on localhost for lft's tests (Debian's slurm-wlm, as root, no
# systemd, munge or accounting). Usage:
#   eval "$(scripts/slurm-local.sh start [DIR])"   # starts slurmctld and slurmd, prints
#                                                   # `export SLURM_CONF=...`
#   scripts/slurm-local.sh stop [DIR]               # stops both daemons
# DIR (default /tmp/lft-slurm) holds slurm.conf, state, spool, logs and pid files.
set -euo pipefail
cmd=${1:-}
dir=${2:-/tmp/lft-slurm}

start() {
    command -v slurmctld >/dev/null || { echo "slurmctld not found: apt-get install slurm-wlm" >&2; exit 1; }
    mkdir -p "$dir"/{state,spool,log}
    local cpus mem
    cpus=$(nproc)
    mem=8000
    cat > "$dir/slurm.conf" <<CONF
ClusterName=lft
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
KillWait=10
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld
    slurmd
    # Idle within a few seconds.
    for _ in $(seq 1 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
            echo "export SLURM_CONF=$dir/slurm.conf"
            return 0
        fi
        sleep 0.5
    done
    echo "the local Slurm did not come up; see $dir/log" >&2
    sinfo >&2 || true
    exit 1
}

stop() {
    local pids=()
    for d in slurmd slurmctld; do
        if [ -f "$dir/$d.pid" ]; then
            pids+=("$(cat "$dir/$d.pid")")
        fi
    done
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    # Gone within seconds; wait, so that a new cluster can take the ports.
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
    done
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop [DIR]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A private one-node Slurm cluster on this machine, for the tests and for
# trying `--hosts slurm` by hand: munged, slurmctld and slurmd from Debian's
# packages (munge, slurmctld, slurmd, slurm-client), each run in the
# foreground (-D/-F) as a background job of this script, with everything
# (config, key, state, logs, pid files, munge socket) in one directory.
# Nothing under /etc is read or written, and no systemd is needed.
#
#   scripts/slurm/cluster.sh start DIR   # start; wait until the node is idle
#   scripts/slurm/cluster.sh stop DIR    # stop the daemons started in DIR, by pid
#   export SLURM_CONF=DIR/slurm.conf     # then: sinfo, salloc, sbatch, srun
#
# `start` prints the SLURM_CONF line to use. The ports are 6817 and 6818
# unless SLURM_CLUSTER_CTLD_PORT / SLURM_CLUSTER_SLURMD_PORT say otherwise
# (the tests pass free ones). The node has every CPU of this machine.
set -euo pipefail

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
action=$1
dir=$2

# How long `start` waits for the node to be idle.
START_TIMEOUT=${SLURM_CLUSTER_START_TIMEOUT:-60}

stop() {
    local name pid
    # The reverse order of `start`: slurmd, then slurmctld, then munged.
    for name in slurmd slurmctld munged; do
        [ -f "$dir/$name.pid" ] || continue
        pid=$(cat "$dir/$name.pid")
        # Only if that pid is still the daemon we started (not a reused pid).
        if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 100); do
                [ -e "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
                sleep 0.05
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$dir/$name.pid"
    done
}

start() {
    for program in munged slurmctld slurmd sinfo srun; do
        if ! command -v "$program" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$program" ]; then
            echo "cluster: $program is missing (apt-get install munge slurmctld slurmd slurm-client)" >&2
            exit 1
        fi
    done
    export PATH="$PATH:/usr/sbin"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    chmod 700 "$dir"
    mkdir -p "$dir/state" "$dir/spool"
    local node cpus ctld_port slurmd_port user
    node=$(hostname -s)
    cpus=$(nproc --all)
    ctld_port=${SLURM_CLUSTER_CTLD_PORT:-6817}
    slurmd_port=${SLURM_CLUSTER_SLURMD_PORT:-6818}
    user=$(id -un)

    # munge: a key of our own, a socket of our own.
    if [ ! -f "$dir/munge.key" ]; then
        (umask 077 && head -c 1024 /dev/urandom >"$dir/munge.key")
    fi
    munged -F --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
        --pid-file="$dir/munged.pidfile" --log-file="$dir/munged.log" \
        --seed-file="$dir/munged.seed" >>"$dir/munged.out" 2>&1 &
    echo $! >"$dir/munged.pid"
    for _ in $(seq 200); do
        [ -S "$dir/munge.socket" ] && break
        sleep 0.05
    done

    cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm/cluster.sh: one node, no systemd, no cgroups.
ClusterName=supervisor-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pidfile
SlurmdPidFile=$dir/slurmd.pidfile
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
MailProg=/bin/true
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$dir/slurm.conf"
    # -i: start afresh (no jobs from an earlier run of this directory).
    slurmctld -D -i >>"$dir/slurmctld.out" 2>&1 &
    echo $! >"$dir/slurmctld.pid"
    slurmd -D -N "$node" >>"$dir/slurmd.out" 2>&1 &
    echo $! >"$dir/slurmd.pid"

    local state=""
    for _ in $(seq $((START_TIMEOUT * 10))); do
        state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
        if [ "$state" = idle ]; then
            echo "SLURM_CONF=$dir/slurm.conf"
            return 0
        fi
        for name in munged slurmctld slurmd; do
            if ! kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null; then
                echo "cluster: $name exited; the end of its log:" >&2
                tail -n 20 "$dir/$name.log" "$dir/$name.out" >&2 2>/dev/null || true
                stop
                exit 1
            fi
        done
        sleep 0.1
    done
    echo "cluster: node $node is not idle after ${START_TIMEOUT}s (state: '${state:-none}'); logs in $dir" >&2
    tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 2>/dev/null || true
    stop
    exit 1
}

case $action in
start) start ;;
stop) stop ;;
*) usage ;;
esac

#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the tests and for trying launcher=slurm on
# a laptop: munged, slurmctld and slurmd on localhost, one partition `debug`.
#
#   scripts/slurm_local.sh up             install slurm-wlm and munge if missing (apt, as root),
#                                         write the config, start the daemons, wait until the
#                                         node is idle; accounting off (sacct fails), as on
#                                         many small clusters
#   scripts/slurm_local.sh up accounting  the same with accounting on: MariaDB and slurmdbd
#                                         (installed if missing), so sacct answers
#   scripts/slurm_local.sh down           stop the daemons (the config stays)
#   scripts/slurm_local.sh status         sinfo, or exit 1 when the cluster is not up
#
# Idempotent: `up` on a running cluster in the asked mode only checks it; the other mode
# rewrites the config and restarts the daemons. Needs root (the daemons run as root, as
# SlurmUser=root); without root or apt it exits 2 with one line saying why.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
LOG_DIR=/var/log/slurm
SPOOL=/var/spool/slurm

say() { echo "slurm_local: $*"; }

require_root() {
    if [ "$(id -u)" != 0 ]; then
        say "needs root (the daemons run as root); run it with sudo"
        exit 2
    fi
}

install_packages() {  # a command to look for, then the packages that bring it
    local command=$1
    shift
    if command -v "$command" >/dev/null; then
        return
    fi
    if ! command -v apt-get >/dev/null; then
        say "$* missing and there is no apt-get to install them"
        exit 2
    fi
    say "installing $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "$@" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q "$@" >/dev/null; }
}

write_config() {  # $1: the accounting storage, none or slurmdbd
    mkdir -p "$CONF_DIR" "$LOG_DIR" "$SPOOL/ctld" "$SPOOL/d" /run/munge
    # The node line as slurmd sees this machine (CPUs, memory), minus its uptime.
    local node
    node=$(slurmd -C | grep '^NodeName=' | sed 's/ UpTime=.*//')
    cat > "$CONF.new" <<CONFIG
# Written by scripts/slurm_local.sh: a single-node cluster for tests and laptops.
ClusterName=rsim-local
SlurmctldHost=$(hostname -s)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/$1
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# Jobs may be requeued (preemption, scontrol requeue); a killed task gets 5 s after SIGTERM.
JobRequeue=1
KillWait=5
# Short scheduling and cleanup delays: the tests wait on them.
MinJobAge=30
SchedulerParameters=sched_interval=2
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONFIG
    mv "$CONF.new" "$CONF"
}

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return
    fi
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    fi
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged
}

start_accounting() {  # MariaDB, then slurmdbd, then the cluster registered in it
    install_packages slurmdbd slurmdbd mariadb-server
    if ! mysqladmin ping >/dev/null 2>&1; then
        mkdir -p /run/mysqld
        chown mysql:mysql /run/mysqld
        (mysqld_safe --user=mysql >/dev/null 2>&1 &)
        for _ in $(seq 30); do
            mysqladmin ping >/dev/null 2>&1 && break
            sleep 1
        done
    fi
    mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    cat > "$CONF_DIR/slurmdbd.conf" <<DBD
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
LogFile=$LOG_DIR/slurmdbd.log
PidFile=/run/slurmdbd.pid
DBD
    chmod 600 "$CONF_DIR/slurmdbd.conf"
    pgrep -x slurmdbd >/dev/null || slurmdbd
    for _ in $(seq 30); do
        sacctmgr -n show cluster >/dev/null 2>&1 && break
        sleep 1
    done
    sacctmgr -i add cluster rsim-local >/dev/null 2>&1 || true
}

mode_is() {  # does the written config have this accounting storage?
    grep -q "^AccountingStorageType=accounting_storage/$1$" "$CONF" 2>/dev/null
}

cluster_up() {
    # The controller answers and the node can run jobs (idle, mixed, allocated, completing).
    scontrol ping 2>/dev/null | grep -q UP \
        && sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated|completing)'
}

up() {
    require_root
    local mode=none
    if [ "${1:-}" = accounting ]; then
        mode=slurmdbd
    fi
    install_packages slurmctld slurm-wlm munge
    if cluster_up && mode_is "$mode"; then
        say "already up: $(sinfo -h -o '%P %D %T %c CPUs %m MB'), accounting $mode"
        return
    fi
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    for _ in $(seq 20); do
        pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break
        sleep 0.5
    done
    write_config "$mode"
    start_munge
    if [ "$mode" = slurmdbd ]; then
        start_accounting
    fi
    slurmctld
    slurmd
    for _ in $(seq 60); do
        if cluster_up; then
            say "up: $(sinfo -h -o '%P %D %T %c CPUs %m MB'), accounting $mode"
            return
        fi
        sleep 1
    done
    say "the cluster did not come up within 60 s; last lines of the logs:"
    tail -n 5 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" 2>/dev/null || true
    exit 1
}

down() {
    require_root
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    pkill -x slurmdbd 2>/dev/null || true
    say "down"
}

status() {
    if command -v sinfo >/dev/null && cluster_up; then
        sinfo
    else
        say "not up"
        exit 1
    fi
}

case "${1:-}" in
    up) up "${2:-}" ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up [accounting]|down|status" >&2; exit 2 ;;
esac

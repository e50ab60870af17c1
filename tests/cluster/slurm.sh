#!/usr/bin/env bash
# A real one-node SLURM cluster on localhost, for CI: `slurm.sh start | stop | status`.
#
# start: installs Debian's slurm-wlm and munge, plus slurmdbd and mariadb-server so that `sacct` works
#        (apt-get; skipped when already installed), writes a one-node slurm.conf for this host, starts munged,
#        a private MariaDB (its own datadir and port, on 127.0.0.1 only), slurmdbd, slurmctld and slurmd, and
#        waits until the node is idle. Daemons and jobs a killed earlier run left behind are cleared first.
# stop:  stops exactly the daemons `start` launched (by the pids it recorded), nothing else.
#
# Must run as root (it installs packages and starts daemons). State, logs and pids live in $SLURM_STATE
# (default /tmp/superdiff-slurm). /etc/slurm/slurm.conf is written only if absent and removed again by stop,
# so an existing cluster configuration on the machine is never touched.
set -euo pipefail

STATE=${SLURM_STATE:-/tmp/superdiff-slurm}
CONF=/etc/slurm/slurm.conf
WAIT_SECONDS=${SLURM_WAIT_SECONDS:-90}
DB_PORT=${SLURM_DB_PORT:-33061}
DBD_PORT=${SLURM_DBD_PORT:-6819}

log() { echo "[slurm.sh] $*" >&2; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        log "must run as root (installs slurm-wlm and munge, starts daemons)"
        exit 1
    fi
}

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null; then
        log "slurm-wlm, munge, slurmdbd and mariadb already installed"
        return
    fi
    log "installing slurm-wlm, munge, slurmdbd and mariadb-server"
    apt-get update -qq
    # Debian's policy-rc.d in containers keeps apt from starting the services; this script starts its own.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge slurmdbd mariadb-server >/dev/null
}

write_config() {
    local host mem cpus
    host=$(hostname -s)
    cpus=$(nproc)
    # leave 1 GiB to the system; slurmd refuses to start if RealMemory exceeds what it detects
    mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 - 1024}' /proc/meminfo)
    mkdir -p "$STATE/ctld" "$STATE/spool" /etc/slurm
    cat >"$STATE/slurm.conf" <<EOF
# Written by tests/cluster/slurm.sh: a one-node cluster on localhost for CI.
ClusterName=superdiff-ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# keep finished jobs visible to squeue/sacct (served by slurmctld) for the whole test
MinJobAge=3600
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
AccountingStorageType=accounting_storage/slurmdbd
# store the --comment Snakemake gives each job (rule and wildcards), so sacct can map jobs to rules
AccountingStoreFlags=job_comment
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=ci Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
    if [ -e "$CONF" ] && ! cmp -s "$CONF" "$STATE/slurm.conf"; then
        if ! grep -q "Written by tests/cluster/slurm.sh" "$CONF"; then
            log "$CONF exists and was not written by this script; refusing to overwrite it"
            exit 1
        fi
    fi
    cp "$STATE/slurm.conf" "$CONF"
}

start_munge() {
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        log "creating a munge key"
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        chown munge:munge /etc/munge/munge.key
        chmod 0400 /etc/munge/munge.key
    fi
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "munged already running"
        return
    fi
    mkdir -p "$STATE/munge"
    chown munge:munge "$STATE/munge"
    runuser -u munge -- /usr/sbin/munged --pid-file="$STATE/munge/munged.pid"
    for _ in $(seq 20); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
        sleep 0.5
    done
    log "munged did not come up"
    exit 1
}

start_database() {
    # A private MariaDB for slurmdbd: own datadir, socket and port, bound to loopback.
    local db=$STATE/mysql run=$STATE/mysql-run pass
    mkdir -p "$run"
    chown mysql:mysql "$run"
    if [ ! -d "$db/mysql" ]; then
        mkdir -p "$db"
        chown mysql:mysql "$db"
        mariadb-install-db --user=mysql --datadir="$db" --auth-root-authentication-method=socket \
            >"$STATE/mariadb-install.log" 2>&1
    fi
    runuser -u mysql -- /usr/sbin/mariadbd --datadir="$db" --socket="$run/mysql.sock" \
        --pid-file="$run/mariadbd.pid" --port="$DB_PORT" --bind-address=127.0.0.1 \
        --log-error="$run/mariadbd.log" --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
    for _ in $(seq 60); do
        mariadb-admin --socket="$run/mysql.sock" ping >/dev/null 2>&1 && break
        sleep 0.5
    done
    mariadb-admin --socket="$run/mysql.sock" ping >/dev/null
    pass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    mariadb --socket="$run/mysql.sock" -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pass';
        ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
        ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$pass';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    (
        umask 077
        printf '%s\n' "# Written by tests/cluster/slurm.sh" "AuthType=auth/munge" "DbdHost=localhost" \
            "DbdAddr=127.0.0.1" "DbdPort=$DBD_PORT" "SlurmUser=root" "PidFile=$STATE/slurmdbd.pid" \
            "LogFile=$STATE/slurmdbd.log" "StorageType=accounting_storage/mysql" "StorageHost=127.0.0.1" \
            "StoragePort=$DB_PORT" "StorageUser=slurm" "StoragePass=$pass" "StorageLoc=slurm_acct_db" \
            >/etc/slurm/slurmdbd.conf
    )
    /usr/sbin/slurmdbd
    for _ in $(seq 60); do
        sacctmgr -n list cluster >/dev/null 2>&1 && break
        sleep 0.5
    done
    sacctmgr -i add cluster superdiff-ci >/dev/null 2>&1 || true
}

start_daemons() {
    # -c: start from a clean slate. A run that was killed before `stop` leaves its jobs in the saved state;
    # recovered, they would hold the node 'allocated' and this run would never see it idle.
    /usr/sbin/slurmctld -c -f "$CONF"
    /usr/sbin/slurmd -c -f "$CONF"
}

wait_idle() {
    local host state
    host=$(hostname -s)
    for _ in $(seq "$WAIT_SECONDS"); do
        state=$(sinfo -h -n "$host" -o '%T' 2>/dev/null || true)
        if [ "$state" = idle ]; then
            log "node $host is idle"
            return
        fi
        sleep 1
    done
    log "node $host not idle after ${WAIT_SECONDS}s (state: '${state:-none}'); logs in $STATE"
    tail -n 20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
    exit 1
}

stop_daemons() {
    stop_pidfile "$STATE/slurmd.pid"
    stop_pidfile "$STATE/slurmctld.pid"
    stop_pidfile "$STATE/slurmdbd.pid"
    stop_pidfile "$STATE/mysql-run/mariadbd.pid"
    stop_pidfile "$STATE/munge/munged.pid"
}

stop_pidfile() {
    local f=$1 pid
    [ -s "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" || true
    fi
    rm -f "$f"
}

case "${1:-}" in
start)
    need_root
    install_packages
    mkdir -p "$STATE"
    # daemons a killed run left behind (recorded pids only): they would hold the ports and the old state
    stop_daemons
    write_config
    start_munge
    start_database
    start_daemons
    wait_idle
    ;;
stop)
    need_root
    stop_daemons
    for f in "$CONF" /etc/slurm/slurmdbd.conf; do
        if [ -e "$f" ] && grep -q "Written by tests/cluster/slurm.sh" "$f"; then rm -f "$f"; fi
    done
    log "stopped"
    ;;
status)
    sinfo && squeue
    ;;
*)
    echo "usage: $0 start|stop|status   (state in \$SLURM_STATE, default /tmp/superdiff-slurm)" >&2
    exit 2
    ;;
esac

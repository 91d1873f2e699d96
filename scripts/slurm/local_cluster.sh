#!/usr/bin/env bash
# A real Slurm cluster of three slurmd nodes on this one machine, for the sharded-build tests (Debian's Slurm and
# munge; the recipe of ../shared/spec/slurm-localhost.md). Everything lives under STATE_DIR, including slurm.conf:
# the daemons and client commands read it through SLURM_CONF, so a slurm.conf the machine already has is left alone.
#
#   scripts/slurm/local_cluster.sh install            install the Debian packages (root; idempotent)
#   scripts/slurm/local_cluster.sh start STATE_DIR    start munged (if none runs), slurmctld and slurmd n1 n2 n3;
#                                                     waits until the three nodes are idle; prints `export SLURM_CONF=…`
#   scripts/slurm/local_cluster.sh stop STATE_DIR     stop what start started, by pid
#
# Ports: slurmctld on $EP_SLURM_CTLD_PORT (default 16817), the nodes on the next three ports after $EP_SLURM_NODE_PORT
# (default 17000). Nodes have one CPU each (they overcommit a 2-core machine: right for correctness, not speed).
set -euo pipefail
command=${1:-}
state=${2:-}

install_packages() {
  local need=()
  for pkg in slurmctld slurmd slurm-client munge; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
  if [ ${#need[@]} -gt 0 ]; then
    echo "local_cluster: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
}

start() {
  mkdir -p "$state/state" "$state/log" "$state/spooln1" "$state/spooln2" "$state/spooln3" /etc/munge /run/munge
  state=$(cd "$state" && pwd)
  if [ ! -f /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  fi
  chown munge:munge /etc/munge/munge.key /run/munge
  chmod 400 /etc/munge/munge.key
  # Is a munged answering? (A process table entry is not enough: a killed daemon may linger as a zombie.)
  if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- munged
    # munged forks into the background: its pid file names the daemon, not the parent that is still exiting.
    for _ in $(seq 1 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
    if [ -s /run/munge/munged.pid ]; then cp /run/munge/munged.pid "$state/munged.pid"; else pgrep -n -x munged > "$state/munged.pid"; fi
  fi
  local host ctld_port node_port
  host=$(hostname -s)
  ctld_port=${EP_SLURM_CTLD_PORT:-16817}
  node_port=${EP_SLURM_NODE_PORT:-17000}
  cat > "$state/slurm.conf" <<CONF
ClusterName=eptest
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$state/state
SlurmdSpoolDir=$state/spool%n
SlurmctldLogFile=$state/log/ctld.log
SlurmdLogFile=$state/log/slurmd-%n.log
SlurmctldPidFile=$state/ctld.pid
SlurmdPidFile=$state/slurmd-%n.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=30
MinJobAge=300
NodeName=n1 NodeHostname=$host Port=$((node_port + 1)) CPUs=1 RealMemory=4000 State=UNKNOWN
NodeName=n2 NodeHostname=$host Port=$((node_port + 2)) CPUs=1 RealMemory=4000 State=UNKNOWN
NodeName=n3 NodeHostname=$host Port=$((node_port + 3)) CPUs=1 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=n[1-3] Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$state/slurm.conf"
  slurmctld
  for n in 1 2 3; do slurmd -N "n$n"; done
  for _ in $(seq 1 60); do
    if [ "$(sinfo -h -N -o '%N %t' 2>/dev/null | grep -c ' idle')" = 3 ]; then
      echo "export SLURM_CONF=$state/slurm.conf"
      return 0
    fi
    sleep 0.5
  done
  echo "local_cluster: the three nodes did not become idle within 30 s; see $state/log" >&2
  sinfo -N >&2 || true
  stop
  return 1
}

stop() {
  state=$(cd "$state" 2>/dev/null && pwd) || return 0
  for pidfile in "$state/ctld.pid" "$state"/slurmd-n*.pid "$state/munged.pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(head -n 1 "$pidfile" | tr -dc '0-9')
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      # A daemon that has not ended 5 s after SIGTERM (a slurmd still trying to register) is killed.
      if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$pidfile"
  done
}

case "$command" in
  install) install_packages ;;
  start) [ -n "$state" ] || { echo "usage: $0 start STATE_DIR" >&2; exit 2; }; start ;;
  stop) [ -n "$state" ] || { echo "usage: $0 stop STATE_DIR" >&2; exit 2; }; stop ;;
  *) echo "usage: $0 install | start STATE_DIR | stop STATE_DIR" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Two independent root libvirt daemons on one machine, for live-migration tests and bench/libvirt-live-move.ps1.
#
#   daemon-pair.sh start DIR [BASEPORT]   starts kvm-a and kvm-b under DIR; prints their URIs, one a line
#   daemon-pair.sh stop-one DIR HOST      stops one daemon (SIGTERM, by pid; its QEMU processes keep running), as a host loss
#   daemon-pair.sh start-one DIR HOST     starts that daemon again with its own configuration and re-activates its pool
#   daemon-pair.sh stop DIR               kills what start started (the two daemons by pid, QEMU processes whose
#                                         command line names DIR) and deletes DIR
#
# Debian 12 ships only the monolithic /usr/sbin/libvirtd. Root libvirtd ignores XDG variables and --config moves only
# libvirtd.conf, so each daemon runs in its own mount namespace with a private folder bind-mounted over /etc/libvirt,
# /run and /var. Its socket folder (unix_sock_dir) is DIR/<host>, outside the bind mounts, so both are reachable:
# qemu+unix:///system?socket=DIR/<host>/libvirt-sock (the provider names such a host after the socket's folder).
# Each daemon has its own host_uuid (libvirt refuses a migration to "the same host" otherwise) and migration ports;
# no migration_host/migration_address (127.0.0.1 there stops the daemon from starting). Needs root, unshare (util-linux),
# libvirt-daemon (libvirtd), libvirt-daemon-driver-qemu, qemu-system-x86 and virsh (libvirt-clients): see setup.sh.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?DIR}
base=${3:-49400}
hosts=(kvm-a kvm-b)

start_one() {
  local name=$1 ports=$2 d=$dir/$1
  mkdir -p "$d/etc" "$d/run" "$d/var" "$d/images"
  cat > "$d/etc/libvirtd.conf" <<EOF
unix_sock_dir = "$d"
auth_unix_ro = "none"
auth_unix_rw = "none"
host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
log_outputs = "3:file:$d/libvirtd.log"
EOF
  cat > "$d/etc/qemu.conf" <<EOF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "file"
namespaces = [ ]
cgroup_controllers = [ ]
migration_port_min = $ports
migration_port_max = $((ports + 19))
EOF
  launch_one "$name"
}

launch_one() {
  local d=$dir/$1
  # $! is the daemon's pid: setsid, unshare and sh each exec the next program.
  setsid unshare -m --propagation private sh -c \
    "mount --bind '$d/etc' /etc/libvirt && mount --bind '$d/run' /run && mount --bind '$d/var' /var && exec /usr/sbin/libvirtd -f /etc/libvirt/libvirtd.conf" \
    >> "$d/daemon.out" 2>&1 < /dev/null &
  echo $! > "$d/libvirtd.pid"
}

wait_one() {
  local d=$dir/$1 pid
  pid=$(cat "$d/libvirtd.pid")
  for _ in $(seq 1 300); do
    [ -S "$d/libvirt-sock" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "daemon-pair.sh: libvirtd of $1 exited:" >&2; tail -n 20 "$d/daemon.out" "$d/libvirtd.log" >&2 2>/dev/null || true; return 1
    fi
    sleep 0.1
  done
  echo "daemon-pair.sh: libvirtd of $1 did not create its socket in 30 s" >&2; return 1
}

case "$cmd" in
  start)
    [ "$(id -u)" = 0 ] || { echo "daemon-pair.sh: needs root (unshare -m, root libvirtd)" >&2; exit 1; }
    mkdir -p "$dir"
    i=0
    for h in "${hosts[@]}"; do start_one "$h" $((base + 20 * i)); i=$((i + 1)); done
    for h in "${hosts[@]}"; do wait_one "$h"; done
    for h in "${hosts[@]}"; do
      uri="qemu+unix:///system?socket=$dir/$h/libvirt-sock"
      virsh -q -c "$uri" pool-define-as default dir --target "$dir/$h/images" >/dev/null
      virsh -q -c "$uri" pool-start default >/dev/null
      echo "$uri"
    done
    ;;
  stop-one)
    h=${3:?HOST}; f=$dir/$h/libvirtd.pid
    pid=$(cat "$f")
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q libvirtd; then kill "$pid" 2>/dev/null || true; fi
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/$h/libvirt-sock" "$dir/$h/libvirt-sock-ro" "$dir/$h/libvirt-admin-sock"
    ;;
  start-one)
    h=${3:?HOST}
    rm -f "$dir/$h/libvirt-sock" "$dir/$h/libvirt-sock-ro" "$dir/$h/libvirt-admin-sock"
    launch_one "$h"
    wait_one "$h"
    uri="qemu+unix:///system?socket=$dir/$h/libvirt-sock"
    virsh -q -c "$uri" pool-start default >/dev/null 2>&1 || true
    virsh -q -c "$uri" pool-info default | grep -q 'State:.*running' || { echo "daemon-pair.sh: pool of $h is not running after restart" >&2; exit 1; }
    echo "$uri"
    ;;
  stop)
    for h in "${hosts[@]}"; do
      f=$dir/$h/libvirtd.pid
      [ -f "$f" ] || continue
      pid=$(cat "$f")
      if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q libvirtd; then kill "$pid" 2>/dev/null || true; fi
    done
    for p in /proc/[0-9]*; do
      c=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null || true)
      case "$c" in *qemu-system*"$dir"*) kill -9 "${p#/proc/}" 2>/dev/null || true ;; esac
    done
    for h in "${hosts[@]}"; do
      f=$dir/$h/libvirtd.pid
      [ -f "$f" ] || continue
      pid=$(cat "$f")
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
    ;;
  *) echo "usage: daemon-pair.sh start|stop DIR [BASEPORT] | stop-one|start-one DIR HOST" >&2; exit 2 ;;
esac

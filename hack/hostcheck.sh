#!/usr/bin/env bash
# Checks that a test run leaves this machine as it found it: iptables/ip6tables rules,
# nf_tables tables, network interfaces and namespaces, the sysctls a Kubernetes node
# writes, mounts, kubepods cgroups and the processes of the dev cluster and agentnet.
#
#   hack/hostcheck.sh snapshot FILE    record the state
#   hack/hostcheck.sh compare FILE     compare with it; print the differences, exit 1 on any
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "$0")/lib.sh"

state() {
  echo "## iptables"
  for tool in iptables-save ip6tables-save; do
    command -v "$tool" >/dev/null && "$tool" 2>/dev/null | sed -e '/^#/d' -e 's/\[[0-9]*:[0-9]*\]//'
  done
  echo "## nf_tables"
  command -v nft >/dev/null && nft list tables 2>/dev/null
  echo "## interfaces"
  ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort
  echo "## network namespaces"
  ls /run/netns 2>/dev/null || true
  echo "## sysctls"
  local key
  for key in vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward \
    net.ipv4.conf.all.route_localnet net.ipv6.conf.all.forwarding \
    net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables; do
    [[ -e /proc/sys/${key//.//} ]] && echo "$key=$(sysctl -n "$key")"
  done
  echo "## mounts"
  awk '{print $2}' /proc/self/mounts | sort
  echo "## cgroups"
  ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null || true
  echo "## processes"
  # shellcheck disable=SC2009 # every process by name, not one pattern's pids
  ps -eo comm= | grep -E '^(etcd|kube-apiserver|kubelet|kube-proxy|kube-scheduler|kube-controller|containerd|containerd-shim|coredns|pause|agentnet-)' | sort || true
}

case ${1:-} in
  snapshot) [[ -n ${2:-} ]] || die "usage: hack/hostcheck.sh snapshot FILE"; state >"$2" ;;
  compare)
    [[ -f ${2:-} ]] || die "usage: hack/hostcheck.sh compare FILE (from snapshot)"
    if ! diff <(cat "$2") <(state) >&2; then
      die "the machine is not as the run found it (< before, > after)"
    fi
    ;;
  *) echo "usage: $0 snapshot|compare FILE" >&2; exit 2 ;;
esac

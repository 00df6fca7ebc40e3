"""The files the offline kind node image adds to kind's own base files: pure text, no I/O.

kind v0.33.0's base recipe (``images/base``) gives the entrypoint, the
containerd and kubelet units and the kubeadm drop-ins; these are the parts it
would fetch from registries or get from kindnetd, written for a node that has
nothing but Debian packages and Go-built binaries:

* ``containerd_config``: kind's ``version = 2`` file with two real runtimes,
  ``runc`` (project-built v1.3.3) and ``crun`` (Debian's, through a wrapper
  pinning ``ociVersion`` because crun 1.8.1 rejects runtime-spec 1.3 bundles).
  kind's ``test-handler`` is left out on purpose, so that the provider adds it
  only to the nodes the topology lists it on and nodes really differ.
* ``HOST_QUIRKS``: a oneshot unit run before containerd and the kubelet that
  handles, only where found, the host facts of a cgroup v1 hybrid host without
  ``CAP_SYS_RESOURCE`` (see the script's comments).
* ``PODNET``: kindnetd's job (its source is not served offline) as a small
  loop: this node's ``podCIDR`` becomes a ptp/host-local CNI config, every
  other node's ``podCIDR`` a route via that node's address, so Pod traffic
  stays on the kind network.
"""

from __future__ import annotations

import json
from pathlib import Path

from clusters.toolbox.runtimes.common import oci_version_wrapper

CNI_CONFIG = "/etc/cni/net.d/10-rcc-podnet.conflist"
CNI_TEMPLATE = "/kind/rcc-podnet.conflist.template"
CRUN_WRAPPER = "/usr/local/bin/crun-oci-1.0.2"
RUNC = "/usr/local/sbin/runc"


def containerd_config(sandbox_image: str) -> str:
    """``/etc/containerd/config.toml`` of the node image (format version 2, as kind's own)."""
    runtime = '''[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}]
  runtime_type = "io.containerd.runc.v2"
  base_runtime_spec = "/etc/containerd/cri-base.json"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}.options]
    SystemdCgroup = true
    BinaryName = "{binary}"
'''
    return f'''# kind's base config.toml (v0.33.0), built offline by runtimeclass-conformance:
# two real OCI runtimes, runc and crun; no test-handler (the provider adds it per node).
version = 2

[plugins."io.containerd.grpc.v1.cri".containerd]
  discard_unpacked_layers = true
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

{runtime.format(name="runc", binary=RUNC)}
{runtime.format(name="crun", binary=CRUN_WRAPPER)}
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  tolerate_missing_hugepages_controller = true
  # set to true by rcc-host-quirks.service where the host lacks CAP_SYS_RESOURCE
  restrict_oom_score_adj = false
'''


# crun 1.8.1 (Debian bookworm) rejects containerd 2.4's runtime-spec 1.3 bundles: the same front
# the local cluster uses pins the bundle's ociVersion to 1.0.2 and runs crun unchanged.
CRUN_OCI_WRAPPER = oci_version_wrapper(Path("/usr/bin/crun"), "1.0.2")

HOST_QUIRKS_SCRIPT = r'''#!/bin/bash
# Host facts a kind node meets on some machines, each handled only where detected.
set -u

# 1. No CAP_SYS_RESOURCE in the bounding set (bit 24): negative oom_score_adj
#    fails, so containerd must not try it (else every sandbox fails with
#    "can't get final child's PID from pipe: EOF").
bnd=$((16#$(awk '/^CapBnd:/ {print $2}' /proc/self/status)))
if (( (bnd >> 24 & 1) == 0 )); then
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
  echo "rcc-host-quirks: no CAP_SYS_RESOURCE: containerd restrict_oom_score_adj = true"
fi

# 2. cgroup v1 hybrid host whose cgroup2 still owns hugetlb: crun refuses
#    hybrid cgroups while cgroup2 owns any controller, and the kubelet expects
#    every v1 controller. A v1 hugetlb mount moves it out of cgroup2; the
#    kubelet's cgroup roots are prepared there as kind's entrypoint does for
#    the other controllers.
if [ ! -f /sys/fs/cgroup/cgroup.controllers ] && ! mountpoint -q /sys/fs/cgroup/hugetlb; then
  mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
  mkdir -p /sys/fs/cgroup/hugetlb
  if mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb; then
    echo "rcc-host-quirks: mounted the v1 hugetlb cgroup"
  fi
fi
if mountpoint -q /sys/fs/cgroup/hugetlb; then
  for root in kubelet kubelet.slice; do
    mkdir -p "/sys/fs/cgroup/hugetlb/$root"
  done
fi
exit 0
'''

HOST_QUIRKS_UNIT = '''[Unit]
Description=runtimeclass-conformance: host quirks (oom_score_adj, hybrid cgroup hugetlb)
DefaultDependencies=no
Before=containerd.service kubelet.service
After=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/kind/bin/rcc-host-quirks.sh

[Install]
WantedBy=multi-user.target
'''

PODNET_SCRIPT = r'''#!/bin/bash
# The pod network of the offline kind node image (kindnetd's job, which cannot
# be built offline). Every 5 s: this node's podCIDR -> a ptp + host-local CNI
# config; every other node's podCIDR -> a route via that node's InternalIP on
# the kind network. No masquerading: Pod traffic keeps Pod addresses and stays
# inside the cluster's nodes.
set -u
KUBECONFIG=/etc/kubernetes/kubelet.conf
CONF=''' + CNI_CONFIG + r'''
TEMPLATE=$(cat ''' + CNI_TEMPLATE + r''')
me=$(hostname)
sysctl -qw net.ipv4.ip_forward=1
mkdir -p /etc/cni/net.d
while true; do
  # Kubernetes >= 1.32 lets a node read only its own Node; the routes need every
  # node's podCIDR, so the control plane grants the nodes group read access to Nodes.
  if [ -f /etc/kubernetes/admin.conf ] && [ ! -f /run/rcc-podnet.rbac ]; then
    kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f - >/dev/null 2>&1 <<'RBAC' && touch /run/rcc-podnet.rbac
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: rcc-podnet-read-nodes}
rules: [{apiGroups: [""], resources: [nodes], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: rcc-podnet-read-nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: rcc-podnet-read-nodes}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:nodes"}]
RBAC
  fi
  if [ -f "$KUBECONFIG" ]; then
    kubectl --kubeconfig "$KUBECONFIG" get nodes -o \
      jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' \
      2>/dev/null > /run/rcc-podnet.nodes || true
    while read -r name cidr ip; do
      [ -n "${cidr:-}" ] && [ -n "${ip:-}" ] || continue
      if [ "$name" = "$me" ]; then
        want=$(printf '%s' "$TEMPLATE" | sed "s#POD_CIDR#$cidr#")
        if [ "$(cat "$CONF" 2>/dev/null)" != "$want" ]; then
          printf '%s' "$want" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
          echo "rcc-podnet: $me uses $cidr"
        fi
      else
        ip route replace "$cidr" via "$ip" 2>/dev/null || true
      fi
    done < /run/rcc-podnet.nodes
  fi
  sleep 5
done
'''


def cni_template() -> str:
    """The CNI config (``CNI_TEMPLATE``) with ``POD_CIDR`` standing for this node's range, filled in by ``PODNET``."""
    return json.dumps({
        "cniVersion": "1.0.0",
        "name": "rcc-podnet",
        "plugins": [
            {"type": "ptp", "ipMasq": False, "mtu": 1500,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": "POD_CIDR"}]],
                      "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }, indent=2)


PODNET_UNIT = '''[Unit]
Description=runtimeclass-conformance: pod network (CNI config and routes between nodes)
After=kubelet.service

[Service]
ExecStart=/kind/bin/rcc-podnet.sh
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
'''

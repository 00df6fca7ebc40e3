"""Configuration files and command lines of every component: pure functions, no I/O.

Each function returns data (dicts, argv lists) built from the topology and the
layout, so unit tests can check exactly what each component is told. A node's CRI
config lives with its CRI module (clusters/local/cri/).
"""

from __future__ import annotations

from clusters.local.layout import ClusterLayout, NodeLayout
from clusters.local.pki import ClusterPKI
from clusters.local.topology import NodeSpec, Topology


def cni_config(node: NodeSpec, layout: NodeLayout) -> dict:
    """A bridge per node, no gateway and no masquerading: no sysctl or iptables change on the host."""
    return {
        "cniVersion": "1.0.0",
        "name": f"rcc-{node.name}",
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr}]],
                    "dataDir": str(layout.cni_ipam_dir),
                },
            }
        ],
    }


def kubelet_config(node: NodeSpec, layout: NodeLayout, pki: ClusterPKI, cri_endpoint: str) -> dict:
    serving = pki.kubelet_serving(node.name)
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.address,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": node.address,
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki.ca.cert)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(serving.cert),
        "tlsPrivateKeyFile": str(serving.key),
        "containerRuntimeEndpoint": cri_endpoint,
        "imageServiceEndpoint": cri_endpoint,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": layout.cgroup_root,
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": ["pods"],
        # This host has cgroup v1 only (see ENVIRONMENT.md); 1.35+ kubelets refuse it by default.
        "failCgroupV1": False,
        "failSwapOn": False,
        "resolvConf": str(layout.resolv_conf),
        "podLogsDir": str(layout.pod_logs),
        "clusterDomain": "cluster.local",
        "registerNode": True,
        "registerWithTaints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in node.taints],
        # Several kubelets share one disk; they must not evict because of each other's images.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "nodeStatusReportFrequency": "30s",
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "shutdownGracePeriod": "0s",
    }


def kubelet_args(node: NodeSpec, layout: NodeLayout) -> list[str]:
    labels = ",".join(f"{k}={v}" for k, v in sorted(node.labels.items()))
    args = [
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={layout.kubelet_kubeconfig}",
        f"--root-dir={layout.kubelet_root}",
        f"--hostname-override={node.name}",
        f"--node-ip={node.address}",
        "--v=1",
    ]
    if labels:
        args.append(f"--node-labels={labels}")
    return args


def crictl_config(cri_endpoint: str) -> dict:
    return {"runtime-endpoint": cri_endpoint, "image-endpoint": cri_endpoint, "timeout": 10}


def etcd_args(topology: Topology, layout: ClusterLayout, pki: ClusterPKI) -> list[str]:
    client = f"https://127.0.0.1:{topology.ports.etcd_client}"
    peer = f"http://127.0.0.1:{topology.ports.etcd_peer}"
    return [
        f"--name={topology.name}-etcd",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={topology.name}-etcd={peer}",
        "--listen-metrics-urls=",
        f"--cert-file={pki.etcd_server.cert}",
        f"--key-file={pki.etcd_server.key}",
        f"--trusted-ca-file={pki.etcd_ca.cert}",
        "--client-cert-auth=true",
        "--unsafe-no-fsync=true",
        "--quota-backend-bytes=1073741824",
        # A single member has no peer to lose: the default 1 s election timeout only delays its
        # first election (etcd answered /health after 0.9 s with it, after 0.05 s with these).
        "--heartbeat-interval=10",
        "--election-timeout=100",
        "--log-level=warn",
    ]


def apiserver_args(topology: Topology, layout: ClusterLayout, pki: ClusterPKI, extra: tuple[str, ...] = ()) -> list[str]:
    """Flags of a secured API server; `extra` lets a broken-cluster variant override any of them."""
    return [
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={topology.ports.apiserver}",
        f"--etcd-servers=https://127.0.0.1:{topology.ports.etcd_client}",
        f"--etcd-cafile={pki.etcd_ca.cert}",
        f"--etcd-certfile={pki.apiserver_etcd_client.cert}",
        f"--etcd-keyfile={pki.apiserver_etcd_client.key}",
        f"--client-ca-file={pki.ca.cert}",
        f"--tls-cert-file={pki.apiserver.cert}",
        f"--tls-private-key-file={pki.apiserver.key}",
        f"--kubelet-client-certificate={pki.apiserver_kubelet_client.cert}",
        f"--kubelet-client-key={pki.apiserver_kubelet_client.key}",
        f"--kubelet-certificate-authority={pki.ca.cert}",
        "--kubelet-preferred-address-types=InternalIP,Hostname",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        # Aggregation-style request headers, trusted only from the front-proxy CA's client, as
        # kubeadm sets them; without them every delegating component logs a missing CA bundle forever.
        f"--requestheader-client-ca-file={pki.front_proxy_ca.cert}",
        f"--proxy-client-cert-file={pki.front_proxy_client.cert}",
        f"--proxy-client-key-file={pki.front_proxy_client.key}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--allow-privileged=true",
        f"--service-cluster-ip-range={topology.service_cidr}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.service_account_public_key}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        # Endpoints may not hold loopback addresses, and this API server listens on loopback only.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        "--v=1",
        *extra,
    ]


CONTROLLERS = ("serviceaccount-controller", "root-ca-certificate-publisher-controller", "node-lifecycle-controller",
               "namespace-controller", "resourcequota-controller")


def controller_manager_args(topology: Topology, layout: ClusterLayout, pki: ClusterPKI) -> list[str]:
    kubeconfig = layout.component_kubeconfig("controller-manager")
    serving = pki.serving("controller-manager")
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={topology.ports.controller_manager}",
        f"--tls-cert-file={serving.cert}",
        f"--tls-private-key-file={serving.key}",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca.cert}",
        f"--cluster-signing-cert-file={pki.ca.cert}",
        f"--cluster-signing-key-file={pki.ca.key}",
        f"--service-cluster-ip-range={topology.service_cidr}",
        "--allocate-node-cidrs=false",
        # Only the controllers a RuntimeClass run needs: the default ServiceAccount and the
        # kube-root-ca.crt ConfigMap (Pods need both), node lifecycle (it lifts the not-ready taint
        # the kubelet registers with), namespace deletion, and ResourceQuota usage (RC-OVH-6).
        # With all of them (kube-controller-manager initialises ~40 one after another) the first
        # namespace's ServiceAccount came 5 s after the start, so every `up` waited 4 s.
        f"--controllers={','.join(CONTROLLERS)}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_args(topology: Topology, layout: ClusterLayout, pki: ClusterPKI) -> list[str]:
    kubeconfig = layout.component_kubeconfig("scheduler")
    serving = pki.serving("scheduler")
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={topology.ports.scheduler}",
        f"--tls-cert-file={serving.cert}",
        f"--tls-private-key-file={serving.key}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def endpoints(topology: Topology) -> list[tuple[str, int, str]]:
    """Every address and port the cluster's components listen on, with who: checked free before `up`."""
    ports = topology.ports
    found = [("127.0.0.1", ports.apiserver, "kube-apiserver"), ("127.0.0.1", ports.etcd_client, "etcd"),
             ("127.0.0.1", ports.etcd_peer, "etcd"),
             ("127.0.0.1", ports.controller_manager, "kube-controller-manager"),
             ("127.0.0.1", ports.scheduler, "kube-scheduler")]
    for spec in topology.nodes:
        found += [(spec.address, 10250, f"kubelet {spec.name}"), (spec.address, 10248, f"kubelet {spec.name}")]
    return found

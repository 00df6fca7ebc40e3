"""What the local cluster's start-up waits on: component health endpoints, and the API server's answers.

The API server is asked through the official client (the admin kubeconfig `up` wrote), like
every other talk to it in the project; the other components' /healthz (etcd, the
controller-manager, the scheduler, each kubelet) are plain HTTPS or HTTP GETs. The client is
imported on first use, so `down` and `status` of a stopped cluster do not pay for it.
"""

from __future__ import annotations

import ssl
import urllib.request
from pathlib import Path
from typing import Any

from clusters.local.pki import CertPair

# Start-up polls while the API server is still coming up: one try per look, no urllib3 retries
# (they would log a warning for every refused connection).
REQUEST_TIMEOUT = 5


def http_ok(url: str, ca: Path | None = None, client: CertPair | None = None) -> bool:
    """GET `url` (https: the server verified against `ca`, with a client certificate if given); True on 200."""
    context = None
    if ca:
        context = ssl.create_default_context(cafile=str(ca))
        if client:
            context.load_cert_chain(str(client.cert), str(client.key))
    with urllib.request.urlopen(url, context=context, timeout=REQUEST_TIMEOUT) as response:
        return response.status == 200


class ApiReadiness:
    """The API server's answers `up` waits on, through the official kubernetes client."""

    def __init__(self, kubeconfig: Path) -> None:
        self._kubeconfig = kubeconfig
        self._api: Any = None
        self._built_from: tuple[int, int] | None = None

    @staticmethod
    def _not_yet() -> tuple[type[BaseException], ...]:
        """What an API server that is not up (or not ready) answers: an HTTP error status, or no answer."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        return ApiException, HTTPError, OSError

    def _client(self) -> Any:
        """A client for the kubeconfig as it is now: `down` removes the cluster's PKI and the next `up`
        makes a new CA and writes a new kubeconfig, so a client built before would no longer connect."""
        try:
            stat = self._kubeconfig.stat()
        except FileNotFoundError:
            raise OSError(f"no kubeconfig yet at {self._kubeconfig}") from None
        if self._api is None or self._built_from != (stat.st_ino, stat.st_mtime_ns):
            from kubernetes import config

            self.close()
            api = config.new_client_from_config(config_file=str(self._kubeconfig))
            api.rest_client.pool_manager.connection_pool_kw["retries"] = False
            self._api, self._built_from = api, (stat.st_ino, stat.st_mtime_ns)
        return self._api

    def _core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self._client())

    def ready(self) -> bool:
        """GET /readyz answers 200 (every post-start hook done)."""
        try:
            response = self._client().call_api("/readyz", "GET", auth_settings=["BearerToken"],
                                               _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
            return response.status == 200
        except self._not_yet():
            return False

    def default_service_account_exists(self) -> bool:
        """Pods are rejected until the controller-manager has made the namespace's `default` account."""
        try:
            self._core().read_namespaced_service_account("default", "default", _request_timeout=REQUEST_TIMEOUT)
            return True
        except self._not_yet():  # 404 until made, or the API server not answering yet
            return False

    def node_states(self, silent: frozenset[str] = frozenset()) -> tuple[set[str], set[str]]:
        """Registered nodes, and those ready for Pods, from one list call.

        Ready for Pods: condition Ready, an address, Node.status.runtimeHandlers (the kubelet
        reports them from its CRI shortly after Ready; not for the `silent` nodes, whose CRI
        lists none, e.g. containerd 1.7), and none of the node.kubernetes.io/ taints (the kubelet
        registers with not-ready, the node lifecycle controller lifts it). The suite reads its
        facts right after `up`.
        """
        try:
            items = self._core().list_node(_request_timeout=REQUEST_TIMEOUT).items
        except self._not_yet():
            return set(), set()
        registered = {n.metadata.name for n in items}
        ready = {n.metadata.name for n in items
                 if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
                 and n.status.addresses and (n.status.runtime_handlers or n.metadata.name in silent)
                 and not any(t.key.startswith("node.kubernetes.io/") for t in n.spec.taints or [])}
        return registered, ready

    def set_node_address(self, name: str, address: str) -> None:
        """The node's InternalIP and Hostname (the kubelet refuses to report a loopback --node-ip itself)."""
        self._core().patch_node_status(name, {"status": {"addresses": [
            {"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}]}},
            _content_type="application/merge-patch+json", _request_timeout=REQUEST_TIMEOUT)

    def ensure_cluster_role_binding(self, binding: dict) -> None:
        """Create `binding` unless it exists (`up` makes kubeadm's kubeadm:cluster-admins binding)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            client.RbacAuthorizationV1Api(self._client()).create_cluster_role_binding(
                binding, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None

"""--image-pull-secret: the user's registry Secret, copied into each namespace the run makes.

A Pod can only name a pull Secret of its own namespace, and the run's namespaces are new. The
Secret is read once from its namespace (default `default`), created in each namespace the run
makes, and named in that namespace's `default` ServiceAccount's imagePullSecrets: the
ServiceAccount admission plugin then adds it to every Pod there, so no Pod manifest changes.
One per process (the controller and each xdist worker set it at session start).
"""

from __future__ import annotations

from conformance.kube import Kube

_SOURCE: dict[str, str] = {}  # {"namespace": ..., "name": ...} once --image-pull-secret is given


class Copier:
    """Callable(namespace): copy the Secret there and name it in the default ServiceAccount."""

    def __init__(self, kube: Kube, spec: str | None) -> None:
        self.kube = kube
        namespace, _, name = (spec or "").rpartition("/")
        self.namespace, self.name = namespace or "default", name or None

    def __call__(self, target: str) -> None:
        if not self.name:
            return
        source = self.kube.core.read_namespaced_secret(self.name, self.namespace)
        self.kube.core.create_namespaced_secret(target, {
            "apiVersion": "v1", "kind": "Secret", "type": source.type, "data": source.data,
            "metadata": {"name": self.name, "labels": {"app.kubernetes.io/managed-by": "runtimeclass-conformance"}}})
        self.kube.core.patch_namespaced_service_account(
            "default", target, {"imagePullSecrets": [{"name": self.name}]})


def configure(spec: str | None) -> None:
    """Remember the Secret for this process's namespaces (see `give`)."""
    _SOURCE.clear()
    if spec:
        _SOURCE["spec"] = spec


def give(kube: Kube, namespace: str) -> None:
    """After a namespace's default ServiceAccount exists: the Secret, if --image-pull-secret named one."""
    if _SOURCE:
        Copier(kube, _SOURCE["spec"])(namespace)

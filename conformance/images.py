"""Every image a run pulls, where it comes from, and a check that each node can pull it.

On an existing cluster the test Pods (and the node probe) run one image, by default busybox from
registry.k8s.io; an air-gapped cluster pulls it from a mirror (`--image-mirror REGISTRY` rewrites
the registry part of every image the run pulls; `--test-image IMAGE` replaces the image outright)
and may need a pull secret (`--image-pull-secret NAME`, a Secret the run copies into each namespace
it makes). `rcc-conformance images` prints the list to mirror.

The image preflight runs before any test: one Pod per schedulable node, pinned with nodeName (it
reaches tainted pools too), running the image's `true`. An image that cannot be pulled is an
infrastructure fault, not a RuntimeClass verdict: the run stops (exit 3) with one line naming the
image, the node, the pull error and the option to use.
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes.client.exceptions import ApiException

from conformance import manifests
from conformance.kube import Kube, ignore_not_found
from conformance.namespaces import await_default_service_account

EXISTING_CLUSTER_IMAGE = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1"
PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                 "RegistryUnavailable")
HOW = ("mirror it (`rcc-conformance images` lists every image a run pulls) and pass --image-mirror REGISTRY "
       "or --test-image IMAGE, with --image-pull-secret NAME if the registry needs credentials")


class ImageUnavailable(Exception):
    """The run's image cannot be pulled on a node: an infrastructure fault (exit 3), one line."""


def mirrored(image: str, mirror: str | None) -> str:
    """`image` with its registry replaced by `mirror` (a host, or host/path prefix); unchanged without one.

    An image without a registry part (`busybox:1`) is Docker Hub's (`docker.io/library/busybox:1`).
    """
    if not mirror:
        return image
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        path = rest
    else:
        path = image if "/" in image else f"library/{image}"
    return f"{mirror.rstrip('/')}/{path}"


def test_image(cluster: str, given: str | None, mirror: str | None) -> str:
    """The image of the test Pods and the node probe: --test-image, else the provider's default, mirrored."""
    if given:
        return given
    if cluster in ("local", "kind"):
        from clusters.toolbox.images import TEST_IMAGE  # built and loaded into the nodes: no registry

        return TEST_IMAGE
    return mirrored(EXISTING_CLUSTER_IMAGE, mirror)


def run_images(cluster: str, given: str | None, mirror: str | None) -> list[str]:
    """Every image a run pulls: the test image (test Pods, image preflight and node probe all run it)."""
    return [test_image(cluster, given, mirror)]


def pull_pod(index: int, node: str, run_id: str, image: str) -> dict[str, Any]:
    """Pinned with nodeName and tolerating every taint: every Ready node is checked, tainted pools too."""
    body = manifests.pod(f"pull-{index}", run_id, image, ["true"])
    body["spec"]["nodeName"] = node
    body["spec"]["tolerations"] = [{"operator": "Exists"}]
    return body


def check_pull(kube: Kube, run_id: str, image: str, nodes: list[str], timeout: float) -> None:
    """Raise ImageUnavailable naming image, node and pull error if a node cannot pull `image`."""
    namespace = f"rcc-pull-{run_id}"
    try:
        kube.core.create_namespace(manifests.namespace(namespace, run_id))
    except ApiException as exc:
        if exc.status == 403:  # an identity that may not make namespaces runs no Pods either (`workspace`)
            return
        raise
    try:
        # The pull Secret (--image-pull-secret), if any, arrives with the default ServiceAccount.
        await_default_service_account(kube, namespace, timeout)
        names = {}
        for index, node in enumerate(nodes):
            pod = kube.core.create_namespaced_pod(namespace, pull_pod(index, node, run_id, image))
            names[pod.metadata.name] = node
        deadline = time.monotonic() + timeout
        while names:
            for name, node in list(names.items()):
                pod = kube.core.read_namespaced_pod(name, namespace)
                if pod.status.phase in ("Running", "Succeeded", "Failed"):
                    names.pop(name)
                    continue
                for status in pod.status.container_statuses or []:
                    waiting = status.state.waiting if status.state else None
                    if waiting is not None and waiting.reason in PULL_FAILURES:
                        raise ImageUnavailable(f"image {image} cannot be pulled on node {node}: {waiting.reason}: "
                                               f"{(waiting.message or '').strip()[:300]}; {HOW}")
            if names and time.monotonic() > deadline:
                late = ", ".join(sorted(names.values()))
                raise ImageUnavailable(f"image {image} was not pulled on node(s) {late} within {timeout:.0f}s; {HOW}")
            time.sleep(1)
    finally:
        ignore_not_found(lambda: kube.core.delete_namespace(namespace, grace_period_seconds=0))

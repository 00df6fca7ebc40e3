"""API access: one place that imports the kubernetes client and turns its errors into facts.

Tests never catch `ApiException` themselves; they ask `rejection(...)` for the
status code and message of a refused request, or get a sentence on failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from conformance.kubeconfig import FIX, KubeconfigProblem, check_kubeconfig

DRY_RUN = "All"


@dataclass(frozen=True)
class Rejection:
    """A request the API server refused: HTTP status, reason, message."""

    status: int
    reason: str
    message: str


@dataclass
class Kube:
    """Typed API groups over one connection."""

    api: client.ApiClient
    core: client.CoreV1Api
    node: client.NodeV1Api
    rbac: client.RbacAuthorizationV1Api
    authz: client.AuthorizationV1Api
    version: client.VersionApi
    apis: client.ApisApi
    server: str
    context: str | None

    def impersonating(self, user: str, groups: tuple[str, ...] = ()) -> "Kube":
        """The same cluster seen as another subject (needs the `impersonate` verb)."""
        configuration = self.api.configuration
        api = client.ApiClient(configuration)
        api.set_default_header("Impersonate-User", user)
        for group in groups:
            api.set_default_header("Impersonate-Group", group)
        return _typed(api, self.server, self.context)

    def own_connection(self) -> "Kube":
        """The same cluster and identity over a connection of its own, for a background thread."""
        return _typed(client.ApiClient(self.api.configuration), self.server, self.context)


class ConnectionProblem(Exception):
    """The cluster cannot be reached or the credentials are refused; the message says what to do."""


def connect(kubeconfig: Path | None, context: str | None) -> Kube:
    """A connection, checked with one request; KubeconfigProblem if the file is no kubeconfig (bad input),
    ConnectionProblem if the cluster cannot be used with it."""
    if kubeconfig is not None:
        check_kubeconfig(kubeconfig)
    try:
        api = config.new_client_from_config(config_file=str(kubeconfig) if kubeconfig else None, context=context)
    except config.ConfigException as exc:
        raise KubeconfigProblem(f"cannot load kubeconfig {kubeconfig or '(default)'} context {context or '(current)'}: "
                                f"{exc}; check --kubeconfig and --context") from None
    except (TypeError, KeyError, AttributeError, ValueError) as exc:  # a malformed entry deep in the file
        raise KubeconfigProblem(f"kubeconfig {kubeconfig or '(default)'} is malformed ({type(exc).__name__}: {exc}); "
                                f"{FIX}") from None
    api.configuration.retries = 2
    server = api.configuration.host
    kube = _typed(api, server, context)
    try:
        kube.version.get_code(_request_timeout=10)
    except ApiException as exc:
        if exc.status in (401, 403):
            raise ConnectionProblem(f"the API server at {server} refused these credentials ({exc.status} "
                                    f"{exc.reason}); check the user in your kubeconfig") from None
        raise ConnectionProblem(f"the API server at {server} answered {exc.status} {exc.reason}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ConnectionProblem(f"no cluster reachable at {server} ({type(exc).__name__}); is it running? "
                                f"check --kubeconfig/--context") from None
    # Reached once: from now on a refused connection or a "not now" answer (the API server restarting) is
    # retried for about 15 s before a request fails (conformance.infrastructure: then the API server is away).
    api.configuration.retries = ApiServerRetry(total=24, connect=10, read=2, redirect=2, status=12,
                                               backoff_factor=0.25, backoff_max=2)
    return _typed(client.ApiClient(api.configuration), server, context)


class ApiServerRetry(urllib3.Retry):
    """urllib3's retries, plus: a 503 or 429 is retried for every verb, POST included.

    An API server that is starting or shutting down answers 503 (with Retry-After) before it handles a
    request, and Priority and Fairness answers 429 the same way, so repeating even a create is safe.
    With urllib3's defaults (and the `status=0` this had) one such answer during a restart ended a test
    as "API server away" (CI, tests/test_infrastructure_faults.py: `too many 503 error responses`). A
    read that broke off is still retried only for idempotent verbs: a create may have happened.
    """

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code in (429, 503) and self.total:
            return True
        return super().is_retry(method, status_code, has_retry_after)


def _typed(api: client.ApiClient, server: str, context: str | None) -> Kube:
    return Kube(api=api, core=client.CoreV1Api(api), node=client.NodeV1Api(api), rbac=client.RbacAuthorizationV1Api(api),
                authz=client.AuthorizationV1Api(api), version=client.VersionApi(api), apis=client.ApisApi(api),
                server=server, context=context)


def rejection(call: Callable[[], Any]) -> Rejection | None:
    """Run a request; None if the server accepted it, else the Rejection."""
    try:
        call()
    except ApiException as exc:
        return as_rejection(exc)
    return None


def as_rejection(exc: ApiException) -> Rejection:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    return Rejection(status=int(exc.status or 0), reason=body.get("reason", exc.reason or ""),
                     message=body.get("message", str(exc.body)))


def listed_or_empty(call: Callable[[], Any]) -> list:
    """The items of a list call, or [] if this identity may not list them (403) or the API server does not
    serve that resource at all (404, e.g. a cluster without node.k8s.io/v1): nothing of it to see."""
    try:
        return call().items
    except ApiException as exc:
        if exc.status in (403, 404):
            return []
        raise


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404


def ignore_not_found(call: Callable[[], Any]) -> None:
    """Deletes in teardown: an object already gone is what we wanted."""
    try:
        call()
    except ApiException as exc:
        if exc.status != 404:
            raise


def to_dict(kube: Kube, obj: Any) -> dict:
    """A client model as the plain JSON the API server sent, for evidence and diagnostics."""
    return kube.api.sanitize_for_serialization(obj)

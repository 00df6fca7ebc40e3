"""One conformance run: pick the provider, bring the cluster up once, probe it, share it with workers.

The controller process (or the only process, without xdist) does the
bring-up; xdist workers receive the kubeconfig and the probed Facts through
`workerinput` and only connect. An existing cluster is used only when asked
for by name (`--cluster existing` or `--kubeconfig`), never because
$KUBECONFIG happens to be set: it may point at production.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from clusters.provider import ClusterProvider, NodeEvidence
from conformance import isolation
from conformance.kube import Kube, connect
from conformance.preflight import Facts, probe


@dataclass
class RunOptions:
    cluster: str
    kubeconfig: Path | None
    context: str | None
    handlers: list[str]
    strict: bool
    allow_disruptive: bool
    image: str | None
    run_id: str
    keep_cluster: bool
    timeouts: dict[str, float]
    topology: Path | None
    apiserver_args: tuple[str, ...] = ()
    isolation_file: Path | None = None
    expect_isolation: list[str] = field(default_factory=list)
    node_probe: bool = False


@dataclass
class RunState:
    """What the controller hands to each worker."""

    options: RunOptions
    kubeconfig: Path
    facts: Facts
    declared_handlers: list[str] = field(default_factory=list)
    isolation: dict[str, dict[str, dict]] = field(default_factory=dict)

    def to_workerinput(self) -> str:
        return json.dumps({"kubeconfig": str(self.kubeconfig), "facts": self.facts.to_json(),
                           "declared_handlers": self.declared_handlers, "isolation": self.isolation})


def new_run_id() -> str:
    """Short, sortable by time, unique enough for names: r<minutes-of-epoch base36><4 hex>."""
    minutes = int(time.time() // 60)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    stamp = ""
    while minutes:
        minutes, rest = divmod(minutes, 36)
        stamp = digits[rest] + stamp
    return f"r{stamp}{secrets.token_hex(2)}"


def make_provider(options: RunOptions, progress) -> ClusterProvider | None:
    """The provider that creates a cluster, or None for an existing one."""
    if options.cluster == "existing":
        return None
    if options.cluster == "kind":
        from clusters.kind.provider import KindProvider

        kwargs = {"topology": options.topology} if options.topology else {}
        return KindProvider(keep=options.keep_cluster, progress=progress,
                            apiserver_extra_args=options.apiserver_args, **kwargs)
    from clusters.local.provider import LocalProvider

    kwargs = {"topology": options.topology} if options.topology else {}
    return LocalProvider(keep=options.keep_cluster, apiserver_extra_args=options.apiserver_args,
                         progress=progress, **kwargs)


def existing_kubeconfig(options: RunOptions) -> Path:
    if options.kubeconfig:
        return options.kubeconfig
    env = os.environ.get("KUBECONFIG")
    return Path(env.split(os.pathsep)[0]) if env else Path.home() / ".kube" / "config"


def evidence_for(provider: ClusterProvider | None, options: RunOptions | None = None,
                 kube: Kube | None = None) -> tuple[NodeEvidence | None, str]:
    """The run's node evidence and, without it, why not. Existing clusters: the opt-in node probe."""
    if provider is None:
        if options is not None and options.node_probe and kube is not None:
            from conformance.node_probe import ProbeEvidence

            return ProbeEvidence(kube, options.run_id), ""
        from conformance.node_probe import OPT_IN

        return None, f"{OPT_IN} (hostPID, in a namespace of its own; RBAC in clusters/existing/rbac.yaml)"
    evidence = provider.evidence()
    return evidence, "" if evidence else f"provider {provider.name} cannot look inside nodes"


def probe_run(kube: Kube, options: RunOptions, provider: ClusterProvider | None,
              node_probe_problem: str | None = None) -> Facts:
    evidence, why = evidence_for(provider, options, kube)
    if node_probe_problem:
        evidence, why = None, node_probe_problem
    disruptive = options.allow_disruptive or provider is not None
    return probe(kube, options.handlers, evidence is not None, why, disruptive, declared_node_handlers(provider))


def declared_node_handlers(provider: ClusterProvider | None) -> dict[str, tuple[str, ...]]:
    """node -> handlers its CRI configures, from the topology of a cluster the suite made ({} otherwise).

    A node that reports no Node.status.runtimeHandlers (containerd 1.7) is then still known:
    the suite places Pods by what its maker configured, never blind.
    """
    declared = getattr(provider, "declared_node_handlers", None)
    return dict(declared()) if callable(declared) else {}


def declared_by_user(file: Path | None, items: list[str]) -> dict[str, isolation.Expectation]:
    """--isolation FILE, then --expect-isolation items over it; a ValueError is one line for the user."""
    user = {}
    if file:
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise ValueError(f"--isolation {file}: {exc.strerror}") from None
        user.update(isolation.parse_file(text, f"--isolation {file}"))
    user.update(isolation.parse_cli(items))
    return user


def isolation_table(options: RunOptions, provider: ClusterProvider | None) -> dict[str, dict[str, dict]]:
    """What each handler must give (RC-USE-8): the topology's promise, overridden by the user's word.

    A ValueError is one line saying what is wrong with the user's declaration.
    """
    user = declared_by_user(options.isolation_file, options.expect_isolation)
    declared = getattr(provider, "declared_isolation", None)
    promised = declared() if callable(declared) else {}
    name = getattr(getattr(provider, "topology", None), "name", None) or getattr(provider, "name", "")
    return isolation.merge(promised, f"the topology of cluster {name}", user)


def connect_run(kubeconfig: Path, options: RunOptions) -> Kube:
    return connect(kubeconfig, options.context if options.cluster == "existing" else None)

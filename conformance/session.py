"""One conformance run: pick the provider, bring the cluster up once, probe it, share it with workers.

The controller process (or the only process, without xdist) does the
bring-up; xdist workers receive the kubeconfig and the probed Facts through
`workerinput` and only connect. An existing cluster is used only when asked
for by name (`--cluster existing` or `--kubeconfig`), never because
$KUBECONFIG happens to be set: it may point at production.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from clusters.existing.provider import ExistingProvider
from clusters.provider import ClusterProvider, NodeEvidence
from conformance import isolation, manifests
from conformance.kube import Kube, connect, listed_or_empty
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
    handler_nodes: dict[str, list[str]] = field(default_factory=dict)  # --handler-nodes HANDLER=NODE[,NODE]
    classes: list[str] = field(default_factory=list)  # --class NAME: the platform classes RC-SCH-7 audits
    image_mirror: str | None = None
    image_pull_secret: str | None = None


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


def make_provider(options: RunOptions, progress) -> ClusterProvider:
    """The provider of the run's cluster: one it brings up (local, kind) or the user's (existing)."""
    if options.cluster == "existing":
        return ExistingProvider(options.kubeconfig, options.context, options.run_id,
                                manifests.run_labels(options.run_id), node_probe=options.node_probe,
                                progress=progress)
    if options.cluster == "kind":
        from clusters.kind.provider import KindProvider

        kwargs = {"topology": options.topology} if options.topology else {}
        return KindProvider(keep=options.keep_cluster, progress=progress,
                            apiserver_extra_args=options.apiserver_args, **kwargs)
    from clusters.local.provider import LocalProvider

    kwargs = {"topology": options.topology} if options.topology else {}
    return LocalProvider(keep=options.keep_cluster, apiserver_extra_args=options.apiserver_args,
                         progress=progress, **kwargs)


def owns_cluster(provider: ClusterProvider) -> bool:
    """True for a cluster the suite brought up; False for the user's (ExistingProvider says so)."""
    return getattr(provider, "owns_cluster", True)


def evidence_for(provider: ClusterProvider, kube: Kube | None = None) -> tuple[NodeEvidence | None, str]:
    """The run's node evidence and, without it, why not."""
    attach = getattr(provider, "attach", None)
    if kube is not None and callable(attach):
        attach(kube.api)
    evidence = provider.evidence()
    if evidence is not None:
        return evidence, ""
    why = getattr(provider, "why_no_evidence", None)
    return None, why() if callable(why) else f"provider {provider.name} cannot look inside nodes"


def probe_run(kube: Kube, options: RunOptions, provider: ClusterProvider) -> Facts:
    evidence, why = evidence_for(provider, kube)
    disruptive = options.allow_disruptive or owns_cluster(provider)
    return probe(kube, options.handlers, evidence is not None, why, disruptive,
                 known_handlers=told_handlers(kube, options, evidence, declared_node_handlers(provider)))


def declared_node_handlers(provider: ClusterProvider | None) -> dict[str, tuple[str, ...]]:
    """node -> handlers its topology promises, for a cluster the suite made ({} otherwise).

    The promise, not the config: on a node that reports no runtimeHandlers (containerd 1.7), a
    promised handler its CRI lacks then gets Pods there and fails RC-CRI-1, as on a reporting node.
    """
    declared = getattr(provider, "declared_node_handlers", None)
    return dict(declared()) if callable(declared) else {}


def told_handlers(kube: Kube, options: RunOptions, evidence: NodeEvidence | None,
                  declared: dict[str, tuple[str, ...]] | None = None) -> dict[str, dict]:
    """node -> handlers, for nodes whose kubelet reports no runtimeHandlers: --handler-nodes, then the
    topology of a cluster the suite made, then the node evidence's reading of the CRI configuration
    (the node probe on an existing cluster)."""
    told: dict[str, dict] = {}
    for handler, nodes in options.handler_nodes.items():
        for node in nodes:
            entry = told.setdefault(node, {"handlers": [], "source": "--handler-nodes"})
            entry["handlers"] = sorted({*entry["handlers"], handler})
    for node, handlers in (declared or {}).items():
        told.setdefault(node, {"handlers": sorted(handlers), "source": "the topology the suite made it from"})
    if evidence is None:
        return told
    for node in listed_or_empty(kube.core.list_node):
        if node.status.runtime_handlers or node.metadata.name in told:
            continue
        try:
            tables = evidence.cri_runtime_tables(node.metadata.name)
        except Exception:  # noqa: BLE001 - a node the probe cannot read stays unknown, said so in the header
            tables = None
        if tables is not None:
            told[node.metadata.name] = {"handlers": sorted(tables), "source": "the node's CRI configuration"}
    return told


def parse_handler_nodes(items: list[str]) -> dict[str, list[str]]:
    """--handler-nodes HANDLER=NODE[,NODE] items; a ValueError is one line for the user."""
    parsed: dict[str, list[str]] = {}
    for item in items:
        handler, _, nodes = item.partition("=")
        names = [n.strip() for n in nodes.split(",") if n.strip()]
        if not handler.strip() or not names:
            raise ValueError(f"--handler-nodes {item!r}: use HANDLER=NODE[,NODE], e.g. gvisor=pool-a-1,pool-a-2")
        parsed.setdefault(handler.strip(), []).extend(names)
    return parsed


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

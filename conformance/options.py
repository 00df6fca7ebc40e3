"""Every option of the suite, declared once: the console script, the runner and the pytest plugin read this table.

`rcc-conformance run --help` (conformance/cli.py), `python -m conformance.run` (conformance/run.py)
and pytest's `--help` (conformance/plugin.py) are all built from `OPTIONS` below, so their names,
choices, defaults and help texts cannot drift apart; tests/test_cli.py checks that the README names
every option the console script shows, and docs/options.md every option here (add a row there too).

Adding an option is ONE entry in `OPTIONS`:

    Option(("--handler-nodes",), "nodes the handler runs on (repeatable)", owner=PLUGIN,
           action="append", default=[], metavar="NODE", group=WHAT)

`owner` says who reads it:
  PLUGIN   declared by the pytest plugin (`config.option.<dest>`); the console script passes it on
  RUNNER   read by conformance.run only (report folder, history); never given to pytest
`runner_takes=True` marks a plugin option the runner takes out of pytest's arguments and passes on
itself (--run-id, which also names the report folder).
  FOREIGN  declared by another pytest plugin (pytest's --strict, pytest-kind's --kubeconfig and
           --keep-cluster, xdist's -n): listed here so the console script can explain it and pass it on
`group` puts it in `rcc-conformance run --help` under that heading; without one it is a pytest
option only (the console script passes it through unchanged like any other pytest option).
`default` is the plugin's; the console script passes on only what the user gave.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from conformance.settings import DEFAULT_TIMEOUTS, DEFAULT_WORKERS

CLUSTERS = ("local", "kind", "existing")

PLUGIN, RUNNER, FOREIGN = "plugin", "runner", "foreign"
WHERE, WHAT, HOW = "which cluster", "what to check", "how to run and where results go"


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    help: str
    owner: str = PLUGIN
    group: str | None = None
    dest: str | None = None
    action: str | None = None
    choices: tuple[str, ...] | None = None
    default: Any = None
    metavar: str | None = None
    type: Any = None
    runner_takes: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def taken_by_runner(self) -> bool:
        """conformance.run takes it out of pytest's arguments (and passes on what pytest needs itself)."""
        return self.owner == RUNNER or self.runner_takes

    @property
    def name(self) -> str:
        """The attribute argparse and pytest store it under."""
        return self.dest or self.flags[-1].lstrip("-").replace("-", "_")

    def kwargs(self, *, with_default: bool) -> dict:
        found = {"help": self.help, "dest": self.name, "action": self.action, "choices": self.choices,
                 "metavar": self.metavar, "type": self.type, **self.extra}
        if with_default:
            found["default"] = self.default
        return {k: v for k, v in found.items() if v is not None}

    def as_arguments(self, value: Any) -> list[str]:
        """A parsed value back as command-line words for pytest's subprocess ([] when not given)."""
        if value is None or value is False or value == []:
            return []
        if self.action == "store_true":
            return [self.flags[0]]
        values = value if self.action == "append" else [value]
        return [word for item in values for word in (self.flags[0], str(item))]


OPTIONS: tuple[Option, ...] = (
    # which cluster
    Option(("--cluster",), "local: bring up the embedded cluster (default); kind: create a kind cluster; "
           "existing: the cluster of --kubeconfig/$KUBECONFIG", group=WHERE, choices=CLUSTERS, default="local"),
    # --kubeconfig comes from pytest-kind ("use this kubeconfig instead of creating a cluster"); for the
    # suite it names an existing cluster and implies --cluster existing.
    Option(("--kubeconfig",), "an existing cluster's kubeconfig (implies --cluster existing)", owner=FOREIGN,
           group=WHERE, metavar="FILE"),
    Option(("--context",), "context in that kubeconfig (default: its current-context)", group=WHERE),
    # --keep-cluster comes from pytest-kind, with the meaning the suite needs for every provider.
    Option(("--keep-cluster",), "leave a cluster the run created running for the next run", owner=FOREIGN,
           group=WHERE, action="store_true"),
    Option(("--topology",), "topology file of the local or kind cluster", type=Path),
    # what to check
    Option(("--handler",), "handler under test, repeatable (default: those the nodes report)", group=WHAT,
           action="append", default=[], metavar="NAME"),
    # --strict is pytest's own flag (strict markers and config); the suite reads it too.
    Option(("--strict",), "a test skipped for a missing capability fails, and so does a skipped or untested "
           "clause", owner=FOREIGN, group=WHAT, action="store_true"),
    Option(("--allow-disruptive",), "allow tests that taint nodes on an existing cluster", group=WHAT,
           action="store_true"),
    Option(("--test-image",), "image of the test Pods (default: the local cluster's, or busybox on other clusters)"),
    Option(("--list-tests",), "list the selected tests with their clauses and the capabilities each needs; "
           "touches no cluster", action="store_true"),
    Option(("--timeout",), f"override a wait budget; names: {', '.join(DEFAULT_TIMEOUTS)}", action="append",
           default=[], metavar="NAME=SECONDS"),
    Option(("--isolation",), "RC-USE-8: what each handler must give, a YAML file of "
           "`HANDLER: {class: shared-kernel|user-space-kernel|vm, runtime: runc|crun|runsc|kata}`",
           type=Path, metavar="FILE"),
    Option(("--expect-isolation",), "RC-USE-8: what one handler must give, e.g. gvisor=user-space-kernel:runsc "
           "(repeatable; overrides --isolation and the topology)", action="append", default=[],
           metavar="HANDLER=CLASS[:RUNTIME]"),
    Option(("--node-probe",), "existing cluster: node evidence through a privileged probe Pod per node (hostPID) "
           "in a namespace of its own (RC-USE-2, RC-USE-3, RC-USE-8, RC-OVH-7)", action="store_true"),
    Option(("--image-mirror",), "registry that replaces the registry of every image the run pulls, for clusters "
           "that cannot reach registry.k8s.io (`rcc-conformance images` lists them)", metavar="REGISTRY"),
    Option(("--image-pull-secret",), "a Secret ([NAMESPACE/]NAME, default namespace `default`) the run copies "
           "into each namespace it makes and gives its Pods, for a registry that needs credentials",
           metavar="NAME"),
    Option(("--handler-nodes",), "the nodes that run a handler, for clusters whose nodes report no "
           "Node.status.runtimeHandlers (repeatable); without it, the node probe or a RuntimeClass, tests "
           "needing that handler skip", action="append", default=[], metavar="HANDLER=NODE[,NODE]"),
    Option(("--class",), "RC-SCH-7: audit only this platform RuntimeClass (repeatable; default: every class the "
           "suite did not create)", dest="platform_class", action="append", default=[], metavar="NAME"),
    Option(("--rcc-apiserver-arg",), "extra kube-apiserver flag for the local cluster (the project's "
           "broken-cluster tests)", action="append", default=[]),
    # how to run and where results go
    Option(("-n",), f"parallel pytest-xdist workers, e.g. 2 or auto; 0: serial (default: {DEFAULT_WORKERS}, "
           "chosen by measurement: bench/main_job.py)", owner=FOREIGN, group=HOW, dest="workers",
           metavar="WORKERS"),
    Option(("--report-dir",), "the run's report folder (default: reports/runs/<run-id>)", owner=RUNNER,
           group=HOW, metavar="DIR"),
    Option(("--history",), "Allure history (JSON Lines) to read and append, so the report shows each test's "
           "trend across runs; keep the file between runs (in CI: cache it)", owner=RUNNER, group=HOW,
           metavar="FILE"),
    Option(("--run-id",), "label value of this run's objects and the report folder's name (default: generated)",
           group=HOW, runner_takes=True),
    Option(("--rcc-report-dir",), "write the run's summary.json (clause verdicts, tests, capabilities, cluster "
           "facts) into this folder at session end; `python -m conformance.run` sets it to reports/runs/<run-id>",
           type=Path),
)
GROUPS = (WHERE, WHAT, HOW)


def declared(owner: str) -> list[Option]:
    return [option for option in OPTIONS if option.owner == owner]


def shown(group: str) -> list[Option]:
    """The console script's options under one heading of its --help."""
    return [option for option in OPTIONS if option.group == group]


def add_to_pytest(group) -> None:
    """pytest_addoption: the options the plugin owns, with their defaults."""
    for option in declared(PLUGIN):
        group.addoption(*option.flags, **option.kwargs(with_default=True))


def add_to_argparse(parser: argparse.ArgumentParser | argparse._ArgumentGroup, options: Iterable[Option]) -> None:
    """Console-script arguments: no defaults, so only what the user gave is passed on."""
    for option in options:
        parser.add_argument(*option.flags, **option.kwargs(with_default=False))


def pytest_arguments(parsed: argparse.Namespace, options: Iterable[Option]) -> list[str]:
    """The console script's parsed options that pytest reads, as its command-line words (table order)."""
    return [word for option in options if not option.taken_by_runner
            for word in option.as_arguments(getattr(parsed, option.name, None))]


def runner_parser() -> argparse.ArgumentParser:
    """The options `python -m conformance.run` takes out of pytest's arguments (it passes --run-id on itself)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_to_argparse(parser, [o for o in OPTIONS if o.taken_by_runner])
    return parser


def option(flag: str) -> Option:
    return next(o for o in OPTIONS if flag in o.flags)


def peek_parser(*flags: str) -> argparse.ArgumentParser:
    """A parser of a few options, to read their values without taking them out of the arguments."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_to_argparse(parser, [option(flag) for flag in flags])
    return parser

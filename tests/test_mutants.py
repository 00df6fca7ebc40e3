"""The suite can fail: run it on broken variants of the local cluster and on the conformant one.

Each variant breaks one piece of real Kubernetes (an admission plugin turned
off, a handler whose runtime cannot run, an authorizer that allows everything). The suite must fail exactly the clauses that piece carries
and pass every other one; on the unbroken cluster it must pass everything,
serial and with `-n 2`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clusters.local.topology import DEFAULT_TOPOLOGY
from clusters.local.variants import variants_for
from tests.suite_runs import run_suite

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="missing capability root: the local cluster needs root")

ROOT = Path(__file__).resolve().parents[1]
ALL_CLAUSES = {f"RC-{family}-{n}" for family, count in (("API", 5), ("USE", 8), ("CRI", 2), ("SCH", 7), ("OVH", 8))
               for n in range(1, count + 1)}


def failed(verdicts: dict[str, str]) -> set[str]:
    return {cid for cid, verdict in verdicts.items() if verdict == "failed"}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "two-workers"])
def test_suite_passes_every_clause_on_the_conformant_local_cluster(tmp_path, workers):
    code, verdicts, output = run_suite(tmp_path, *workers)
    assert code == 0, output[-3000:]
    assert set(verdicts) == ALL_CLAUSES
    assert {cid for cid, v in verdicts.items() if v != "passed"} == set(), output[-3000:]


VARIANTS = variants_for(DEFAULT_TOPOLOGY)


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_suite_fails_exactly_the_clauses_a_broken_cluster_breaks(tmp_path, variant):
    args = ["-n", "2", *(f"--rcc-apiserver-arg={a}" for a in variant.apiserver_args),
            f"--topology={variant.topology_file(DEFAULT_TOPOLOGY, tmp_path / 'topology')}"]
    code, verdicts, output = run_suite(tmp_path, *args)
    assert code != 0, "the suite passed on a broken cluster"
    assert failed(verdicts) == set(variant.breaks), output[-3000:]

"""The local cluster raises fs.inotify.max_user_instances only on a host that is short of them.

Real sysctl on this host (root), restored after each test: a kubelet that finds no free
instance exits at start with `inotify_init: too many open files`.
"""

from __future__ import annotations

import os

import pytest

from clusters.toolbox import host

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not os.access(host.INOTIFY_INSTANCES, os.W_OK),
                                reason="needs root with a writable fs.inotify.max_user_instances")


@pytest.fixture
def original_limit():
    limit = int(host.INOTIFY_INSTANCES.read_text())
    yield limit
    host.restore_inotify_instances(limit)


def test_a_host_with_room_is_left_alone(original_limit):
    host.INOTIFY_INSTANCES.write_text(f"{host.inotify_instances_in_use() + 100}\n")
    before = int(host.INOTIFY_INSTANCES.read_text())
    assert host.raise_inotify_instances_if_needed(10) == 0
    assert int(host.INOTIFY_INSTANCES.read_text()) == before


def test_a_short_host_gets_a_higher_limit_and_the_old_one_back(original_limit):
    short = host.inotify_instances_in_use() + 5
    host.INOTIFY_INSTANCES.write_text(f"{short}\n")
    assert host.raise_inotify_instances_if_needed(50) == short
    assert int(host.INOTIFY_INSTANCES.read_text()) >= host.inotify_instances_in_use() + 50
    host.restore_inotify_instances(short)
    assert int(host.INOTIFY_INSTANCES.read_text()) == short

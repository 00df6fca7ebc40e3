"""The binaries cache's one protocol, shared by every build (Go components and e2e.test): a build
writes into `<out>.partial` and only a finished one becomes `<out>` with `.complete`, so a build
killed half-way is never taken for a cached one."""

from __future__ import annotations

from clusters.toolbox.binaries import _fresh_partial, _publish


def test_a_build_starts_in_an_empty_partial_folder_even_after_a_killed_one(tmp_path):
    out = tmp_path / "bin" / "etcd-v3"
    leftover = out.with_name("etcd-v3.partial")
    leftover.mkdir(parents=True)
    (leftover / "etcd").write_text("half-written")
    partial = _fresh_partial(out)
    assert partial == leftover and list(partial.iterdir()) == []
    assert not out.exists()


def test_publishing_swaps_the_build_in_whole_marks_its_version_and_drops_the_work_folder(tmp_path):
    out, workdir = tmp_path / "bin" / "etcd-v3", tmp_path / "build" / "etcd-v3"
    (out / "stale").parent.mkdir(parents=True)
    (out / "stale").write_text("from an older build")
    workdir.mkdir(parents=True)
    partial = _fresh_partial(out)
    (partial / "etcd").write_text("binary")
    _publish(partial, out, workdir, "v3.6.0")
    assert sorted(p.name for p in out.iterdir()) == [".complete", "etcd"]
    assert (out / ".complete").read_text() == "v3.6.0\n"
    assert not partial.exists() and not workdir.exists()

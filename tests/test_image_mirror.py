"""Images for every cluster: the mirror rewrites every image a run pulls; `rcc-conformance images` lists them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance.images import EXISTING_CLUSTER_IMAGE, mirrored, run_images

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("image, mirror, expected", [
    ("registry.k8s.io/e2e-test-images/busybox:1.37.0-1", "mirror.corp:5000",
     "mirror.corp:5000/e2e-test-images/busybox:1.37.0-1"),
    ("registry.k8s.io/e2e-test-images/busybox:1.37.0-1", "harbor.corp/k8s/",
     "harbor.corp/k8s/e2e-test-images/busybox:1.37.0-1"),
    ("busybox:1.37", "harbor.corp", "harbor.corp/library/busybox:1.37"),  # Docker Hub's library
    ("localhost:5000/rcc/test:1", "harbor.corp", "harbor.corp/rcc/test:1"),
    ("registry.k8s.io/pause:3.10", None, "registry.k8s.io/pause:3.10"),
])
def test_the_mirror_replaces_the_registry_part_only(image, mirror, expected):
    assert mirrored(image, mirror) == expected


def test_every_image_a_run_pulls_follows_the_options():
    assert run_images("existing", None, None) == [EXISTING_CLUSTER_IMAGE]
    assert run_images("existing", "my/own:1", "ignored.corp") == ["my/own:1"]
    assert run_images("existing", None, "m.corp") == ["m.corp/e2e-test-images/busybox:1.37.0-1"]


def test_the_console_script_prints_the_images_to_mirror():
    done = subprocess.run([sys.executable, "-m", "conformance.cli", "images", "--image-mirror", "m.corp"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["m.corp/e2e-test-images/busybox:1.37.0-1"], done

"""Reading a provider's topology file: YAML in, one ClusterError line out on any problem.

Shared by the local and kind providers so both explain a bad file the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml

from clusters.toolbox.errors import ClusterError

T = TypeVar("T")

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def load_checked(path: Path, what: str, parse: Callable[[dict, Path], T]) -> T:
    """Parse `path` with `parse`; a missing file, bad YAML or a bad field becomes one sentence."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ClusterError(f"{what} {path} does not exist; pass an existing file") from None
    except yaml.YAMLError as exc:
        raise ClusterError(f"{what} {path} is not valid YAML: {exc}") from None
    try:
        return parse(raw, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise ClusterError(f"{what} {path}: {exc}") from None


def dns_label(value: object, what: str) -> str:
    """Names that end up in Kubernetes objects and host paths must be DNS-1123 labels."""
    text = str(value)
    if not _DNS1123_LABEL.match(text):
        raise ValueError(f"{what} {text!r} must be a DNS-1123 label (lower-case alphanumerics and '-')")
    return text

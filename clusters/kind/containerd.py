"""Reading and extending a kind node's containerd configuration: pure text in, text out.

Which CRI plugin holds the runtime tables depends on the *format version of
the config file*, not on containerd's own version (spec clause RC-CRI-1):
version 2 files use ``plugins."io.containerd.grpc.v1.cri"``, version 3 and
later ``plugins."io.containerd.cri.v1.runtime"``. The two differ on kind:
kind v0.33.0's node image runs containerd 2.3 but still ships a ``version = 2``
``/etc/containerd/config.toml``, which containerd 2.x migrates when it loads
it. A runtime table written under the v3 plugin into such a file is worse than
ignored: the migration then skips the file's own ``runtimes`` (checked with
``containerd config dump`` of containerd v2.3.4: ``test-handler`` vanished and
``runc`` lost ``SystemdCgroup``). So the version is always read from the node's
file, never guessed from an image tag.

A new handler is a copy of the node's default runtime table (``runc`` on
kind), the way kind's image defines ``test-handler``: same shim, same base
OCI spec, same ``SystemdCgroup`` as the kubelet's cgroup driver expects.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable
from typing import Any

CRI_PLUGIN_V2 = "io.containerd.grpc.v1.cri"
CRI_PLUGIN_V3 = "io.containerd.cri.v1.runtime"

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def cri_plugin(config_version: int) -> str:
    """The plugin whose ``containerd.runtimes`` table a config file of this format version uses."""
    if config_version < 2:
        raise ValueError(f"containerd config version {config_version} is not supported (kind nodes use 2 or later)")
    return CRI_PLUGIN_V2 if config_version == 2 else CRI_PLUGIN_V3


def containerd_plugin_path(config_version: int) -> str:
    """The TOML table path of the runtime tables, e.g. ``plugins."io.containerd.grpc.v1.cri".containerd.runtimes``."""
    return f'plugins.{_key(cri_plugin(config_version))}.containerd.runtimes'


def config_version(config: dict[str, Any]) -> int:
    """The file's format version; containerd reads a file without one as version 1."""
    return int(config.get("version", 1))


def runtime_tables(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The runtime tables of a parsed containerd config, keyed by handler name."""
    containerd = _containerd_section(config)
    return dict(containerd.get("runtimes", {}))


def handler_additions(config_text: str, handlers: Iterable[str]) -> str:
    """TOML to append to ``config_text`` so it defines every handler in ``handlers``.

    Returns "" when all of them are already there, so applying the result is
    idempotent and a node that needs nothing is not restarted. Appending
    (rather than re-encoding the whole file) keeps the node's own file intact;
    the result is parsed again to prove the appended tables landed where the
    CRI looks for them.
    """
    config = tomllib.loads(config_text)
    existing = runtime_tables(config)
    missing = [h for h in dict.fromkeys(handlers) if h not in existing]
    if not missing:
        return ""
    default = str(_containerd_section(config).get("default_runtime_name", "runc"))
    if default not in existing:
        raise ValueError(f"the default runtime {default!r} has no runtime table to copy")
    prefix = containerd_plugin_path(config_version(config))
    addition = "".join(_render_table(f"{prefix}.{_key(name)}", existing[default]) for name in missing)
    merged = runtime_tables(tomllib.loads(config_text + "\n" + addition))
    if any(merged.get(name) != existing[default] for name in missing):
        raise ValueError(f"appending runtime tables for {missing} did not yield copies of {default!r}")
    return addition


def _containerd_section(config: dict[str, Any]) -> dict[str, Any]:
    return config.get("plugins", {}).get(cri_plugin(config_version(config)), {}).get("containerd", {})


def _render_table(header: str, table: dict[str, Any]) -> str:
    """One TOML table and its sub-tables, scalars first as TOML requires."""
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    lines = [f"[{header}]", *(f"  {_key(k)} = {_value(v)}" for k, v in scalars.items())]
    text = "\n".join(lines) + "\n\n"
    return text + "".join(_render_table(f"{header}.{_key(k)}", v) for k, v in tables.items())


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a TOML basic string (same quotes, same escapes) once DEL is escaped too.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ValueError(f"cannot copy a runtime table value of type {type(value).__name__}: {value!r}")

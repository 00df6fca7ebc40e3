"""Extra kube-apiserver flags that cannot work together, said in one line before anything starts.

`--runtime-config=node.k8s.io/v1=false` turns the RuntimeClass API off, but the
RuntimeClass admission plugin (on by default) waits for its RuntimeClass
informer to sync before the API server reports ready; with the API off that
never happens, so the start-up would end in a bare readiness timeout. A cluster
without the RuntimeClass API therefore also needs
`--disable-admission-plugins=RuntimeClass`. Pure: looks at strings only.
"""

from __future__ import annotations

from collections.abc import Iterable

RUNTIMECLASS_API_OFF = ("node.k8s.io/v1", "node.k8s.io")


def _last_value(args: Iterable[str], flag: str) -> str | None:
    """The value of the last `--flag=value` or `--flag value` (the API server keeps the last one)."""
    value, items = None, list(args)
    for i, arg in enumerate(items):
        if arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
        elif arg == flag and i + 1 < len(items):
            value = items[i + 1]
    return value


def _comma_list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def runtimeclass_api_turned_off(args: Iterable[str]) -> bool:
    """Does `--runtime-config` turn node.k8s.io/v1 off (`node.k8s.io/v1=false` or the whole group)?"""
    for entry in _comma_list(_last_value(args, "--runtime-config")):
        key, _, value = entry.partition("=")
        if key.strip() in RUNTIMECLASS_API_OFF and value.strip().lower() == "false":
            return True
    return False


def never_ready_reason(args: Iterable[str]) -> str | None:
    """One line if these extra flags would leave the API server never ready, else None."""
    args = list(args)
    if not runtimeclass_api_turned_off(args):
        return None
    if "RuntimeClass" in _comma_list(_last_value(args, "--disable-admission-plugins")):
        return None
    return ("--runtime-config turns node.k8s.io/v1 off, but the RuntimeClass admission plugin waits for "
            "that API's informer, so the API server would never become ready; add "
            "--disable-admission-plugins=RuntimeClass (with --rcc-apiserver-arg) as well")

"""Is this file a kubeconfig at all? One sentence per way it is not, before any client reads it.

The kubernetes client loads whatever it is given and fails deep inside with a
TypeError or a YAML scanner error (a traceback, pytest's INTERNALERROR). The
suite checks the file first and says, in one line, which file, what is wrong
with it and what to do. Pure: reads one file, talks to no cluster.
"""

from __future__ import annotations

from pathlib import Path

import yaml

# What the user can do about any of these problems.
FIX = "pass a kubeconfig file (e.g. --kubeconfig ~/.kube/config, or `kubectl config view --raw` saved to a file)"


class KubeconfigProblem(Exception):
    """The file named as a kubeconfig cannot be one; the message names it and says what to do."""


def check_kubeconfig(path: Path) -> None:
    """Raise KubeconfigProblem unless `path` is a readable YAML mapping shaped like a kubeconfig `Config`."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise KubeconfigProblem(f"kubeconfig {path} is a directory, not a file; {FIX}")
    if not path.exists():
        raise KubeconfigProblem(f"kubeconfig {path} does not exist; {FIX}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KubeconfigProblem(f"kubeconfig {path} is not text (binary content); {FIX}") from None
    except OSError as exc:
        raise KubeconfigProblem(f"kubeconfig {path} cannot be read ({exc.strerror}); check its permissions") from None
    if not text.strip():
        raise KubeconfigProblem(f"kubeconfig {path} is empty; {FIX}")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise KubeconfigProblem(f"kubeconfig {path} is not valid YAML{where} ({problem}; truncated?); {FIX}") from None
    if not isinstance(raw, dict):
        raise KubeconfigProblem(f"kubeconfig {path} is not a kubeconfig (its content is a YAML "
                                f"{type(raw).__name__}, not a mapping with kind: Config); {FIX}")
    kind = raw.get("kind")
    if kind is not None and kind != "Config":
        raise KubeconfigProblem(f"kubeconfig {path} is a Kubernetes {kind}, not a kubeconfig (kind: Config); {FIX}")
    absent = [key for key in ("clusters", "contexts", "users") if not raw.get(key)]
    if len(absent) == 3:
        raise KubeconfigProblem(f"kubeconfig {path} has no clusters, contexts or users, so it is no "
                                f"kubeconfig; {FIX}")
    for key in ("clusters", "contexts", "users"):
        if raw.get(key) is not None and not isinstance(raw[key], list):
            raise KubeconfigProblem(f"kubeconfig {path}: `{key}` must be a list, it is a "
                                    f"{type(raw[key]).__name__}; fix the file or {FIX}")

"""What the report shows of infrastructure faults: the front page's "what broke" table. Pure, no I/O.

Kept beside conformance/report.py (which renders the rest of the matrix page and passes its table
styles in) so that module stays one job long; the verdict itself is conformance/verdict.py's.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

INFRASTRUCTURE_COLOUR = "#6a1b9a"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def unique_faults(faults: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """One entry per node and kind of fault, the first sighting kept (it says when the fault was seen)."""
    kept: dict[tuple[str, str], dict[str, str]] = {}
    for f in faults:
        kept.setdefault((f["node"], f["kind"]), dict(f))
    return sorted(kept.values(), key=lambda f: f["seen_at"])


def infrastructure_html(summary: Mapping[str, Any], table: str, th: str, td: str) -> str:
    """What broke during the run (node, what happened, when) and which clauses it left untested."""
    rows = "".join(f'<tr data-fault="{_e(f["kind"])}"><td {td}>{_e(f["node"] or "API server")}</td>'
                   f'<td {td}><b>{_e(f["kind"])}</b>: {_e(f["detail"])}</td><td {td}>{_e(f["seen_at"])}</td></tr>'
                   for f in summary.get("infrastructure") or [])
    untested = ", ".join(summary.get("infrastructure_untested") or []) or "none (no test was waiting on it)"
    return ('<h3 style="margin:12px 0 4px 0">Infrastructure fault: no conformance verdict</h3>'
            f'<table data-rcc="infrastructure" {table}><colgroup><col style="width:20%"><col style="width:60%">'
            f'<col style="width:20%"></colgroup><thead><tr><th {th}>Where</th>'
            f'<th {th}>What happened</th><th {th}>Seen at</th></tr></thead><tbody>{rows}</tbody></table>'
            f'<p>Clauses left untested by it: <b>{_e(untested)}</b>. The other clauses keep their verdicts below; '
            'the run gives no overall verdict until the fault is gone and the suite is run again.</p>')

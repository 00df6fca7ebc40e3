"""The report's isolation table (RC-USE-8): one row per handler and node. Pure data to data.

Both RC-USE-8 tests record rows (the Pod's view; the Pod's view plus the node's);
`rows_for_summary` keeps one per handler and node, the one that says most, so
summary.json and the front page show what each handler gave, declared or not.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

COLUMNS = ("Handler", "Node", "Class expected", "Class observed", "Runtime observed", "Evidence")
WIDTHS = ("11%", "13%", "15%", "12%", "11%", "38%")
VERDICT_COLOURS = {"mismatch": "#c62828", "as declared": "#2e7d32"}


def rows_for_summary(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (handler, node): a mismatch first, else one with node evidence; sorted for a stable page."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["handler"], row["node"])
        current = best.get(key)
        if current is None or _weight(row) > _weight(current):
            best[key] = dict(row)
    return [best[k] for k in sorted(best)]


def _weight(row: Mapping[str, Any]) -> tuple[bool, bool]:
    return row.get("verdict") == "mismatch", bool(row.get("runtime"))


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def isolation_html(rows: list[Mapping[str, Any]], table: str, th: str, td: str) -> str:
    """The table for the front page (styles passed in so it matches the clause matrix); empty without rows."""
    if not rows:
        return ""
    parts = ['<h3 style="margin:12px 0 4px 0">Isolation per handler (RC-USE-8)</h3>',
             f'<table data-rcc="isolation" {table}><colgroup>'
             + "".join(f'<col style="width:{w}">' for w in WIDTHS) + "</colgroup><thead><tr>"
             + "".join(f"<th {th}>{c}</th>" for c in COLUMNS) + "</tr></thead><tbody>"]
    for row in rows:
        expected = row.get("expected") or "(not declared)"
        if row.get("expected_runtime"):
            expected += f" · {row['expected_runtime']}"
        declared_by = f'<br><small>{_e(row["declared_by"])}</small>' if row.get("declared_by") else ""
        colour = VERDICT_COLOURS.get(row.get("verdict", ""), "inherit")
        parts.append(
            f'<tr data-isolation="{_e(row["handler"])}/{_e(row["node"])}" data-verdict="{_e(row.get("verdict", ""))}">'
            f'<td {td}><b>{_e(row["handler"])}</b></td><td {td}>{_e(row["node"])}</td>'
            f'<td {td}>{_e(expected)}{declared_by}</td>'
            f'<td {td}><b style="color:{colour}">{_e(row.get("observed", ""))}</b></td>'
            f'<td {td}>{_e(row.get("runtime") or "(no node evidence)")}</td><td {td}>{_evidence(row)}</td></tr>')
    parts.append("</tbody></table>")
    return "\n".join(parts)


def _evidence(row: Mapping[str, Any]) -> str:
    text = f"Pod: {_e(row.get('pod_evidence', ''))}"
    if row.get("node_evidence"):
        text += f"<br>Node: {_e(row['node_evidence'])}"
    return text


def front_page_variables(rows: list[Mapping[str, Any]]) -> dict[str, str]:
    """`isolation <handler>` -> what it gave on its nodes, for the report's front page (Allure "Variables")."""
    by_handler: dict[str, list[str]] = {}
    for row in rows:
        gave = row.get("observed", "") + (f" · {row['runtime']}" if row.get("runtime") else "")
        by_handler.setdefault(row["handler"], []).append(f"{gave} ({row.get('verdict', '')}) on {row['node']}")
    return {f"isolation {handler}": "; ".join(seen) for handler, seen in sorted(by_handler.items())}

"""The report's "platform classes" table (RC-SCH-7): one row per RuntimeClass the run did not create.

Pure data to data, like conformance/isolation_report.py: the RC-SCH-7 test records one row per
class (conformance/platform_classes.py), summary.json keeps them sorted by class, and the front
page shows them next to the clause matrix so a platform team sees which of its classes work.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conformance.html_tables import escape as _e, table_start

COLUMNS = ("Class", "Handler", "Scheduling", "Overhead", "Nodes that admit it", "Nodes that run its handler",
           "Verdict", "Why")
WIDTHS = ("10%", "8%", "16%", "9%", "12%", "12%", "8%", "25%")
VERDICT_COLOURS = {"unusable": "#c62828", "usable": "#2e7d32", "unknown": "#8d6e00"}


def rows_for_summary(rows: Iterable[Mapping[str, Any]],
                     isolation: Iterable[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """One row per class (the last recorded wins: a retried test), sorted by class name, each with
    `isolation` where RC-USE-8 observed its Pods: what it expected and saw (conformance/platform_isolation.py)."""
    seen: dict[str, list[str]] = {}
    for obs in isolation:
        if obs.get("platform_class"):
            expected = obs.get("expected") or "(not declared)"
            seen.setdefault(obs["platform_class"], []).append(
                f"{obs['node']}: expected {expected}, saw {obs.get('observed', '')}"
                + (f" ({obs['runtime']})" if obs.get("runtime") else "") + f" [{obs.get('verdict', '')}]")
    return [{**row, **({"isolation": "; ".join(seen[row["name"]])} if row["name"] in seen else {})}
            for row in sorted({r["name"]: r for r in rows}.values(), key=lambda r: r["name"])]


def platform_html(rows: list[Mapping[str, Any]], table: str, th: str, td: str) -> str:
    """The table for the front page (styles passed in so it matches the clause matrix); empty without rows."""
    if not rows:
        return ""
    parts = [table_start("Platform classes (RC-SCH-7)", "platform-classes", WIDTHS, COLUMNS, table, th)]
    for row in rows:
        colour = VERDICT_COLOURS.get(row.get("verdict", ""), "inherit")
        why = _e(row.get("why", ""))
        if row.get("pods"):
            why += "<br><small>Pods: " + _e("; ".join(row["pods"])) + "</small>"
        if row.get("isolation"):
            why += "<br><small>Isolation (RC-USE-8): " + _e(row["isolation"]) + "</small>"
        parts.append(
            f'<tr data-platform-class="{_e(row["name"])}" data-verdict="{_e(row.get("verdict", ""))}">'
            f'<td {td}><b>{_e(row["name"])}</b></td><td {td}>{_e(row["handler"])}</td>'
            f'<td {td}>{_e(row.get("scheduling", ""))}</td><td {td}>{_e(row.get("overhead", ""))}</td>'
            f'<td {td}>{_e(", ".join(row.get("admitting") or []) or "(none)")}</td>'
            f'<td {td}>{_e(", ".join(row.get("with_handler") or []) or "(none known)")}</td>'
            f'<td {td}><b style="color:{colour}">{_e(row.get("verdict", ""))}</b></td><td {td}>{why}</td></tr>')
    parts.append("</tbody></table>")
    return "\n".join(parts)

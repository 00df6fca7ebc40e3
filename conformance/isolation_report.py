"""The report's isolation table (RC-USE-8): one row per handler and node. Pure data to data.

Both RC-USE-8 tests record rows (the Pod's view; the Pod's view plus the node's);
`rows_for_summary` keeps one per handler and node, the one that says most, so
summary.json and the front page show what each handler gave, declared or not.
RC-OVH-8's membership test records containment rows (summary.json `containment`): the
table's containment column says inside / escaped / not checked, with why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conformance.html_tables import escape as _e, table_start

COLUMNS = ("Handler", "Node", "Class expected", "Class observed", "Runtime observed", "Containment (RC-OVH-8)",
           "Evidence")
WIDTHS = ("10%", "12%", "13%", "11%", "10%", "16%", "28%")
VERDICT_COLOURS = {"mismatch": "#c62828", "as declared": "#2e7d32"}
CONTAINMENT_COLOURS = {"inside": "#2e7d32", "escaped": "#c62828", "not checked": "#757575"}
NOT_RUN = "RC-OVH-8's membership test did not run (it needs node evidence, or was not selected)"


def containment_for(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One containment row per (handler, node): an escape wins over inside; sorted for a stable page."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["handler"], row["node"])
        if key not in best or row.get("containment") == "escaped":
            best[key] = dict(row)
    return [best[k] for k in sorted(best)]


def containment_cell(handler: str, node: str, containment: list[Mapping[str, Any]],
                     not_run: str = NOT_RUN) -> tuple[str, str]:
    """(inside / escaped / not checked, the evidence or why) for one handler on one node."""
    found = next((r for r in containment if r["handler"] == handler and r["node"] == node), None)
    if found is not None:
        return found["containment"], found.get("containment_evidence", "")
    checked = sorted(r["node"] for r in containment if r["handler"] == handler)
    if checked:
        return "not checked", f"RC-OVH-8 checks one node of each CRI per handler: {', '.join(checked)}"
    return "not checked", not_run if not containment else f"no RC-OVH-8 membership result for handler {handler}"


def rows_for_summary(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (handler, node, platform class if any): a mismatch first, else one with node evidence;
    sorted for a stable page."""
    best: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["handler"], row["node"], row.get("platform_class") or "")
        current = best.get(key)
        if current is None or _weight(row) > _weight(current):
            best[key] = dict(row)
    return [best[k] for k in sorted(best)]


def _weight(row: Mapping[str, Any]) -> tuple[bool, bool]:
    return row.get("verdict") == "mismatch", bool(row.get("runtime"))


def isolation_html(rows: list[Mapping[str, Any]], table: str, th: str, td: str,
                   containment: list[Mapping[str, Any]] | None = None, not_run: str = NOT_RUN) -> str:
    """The table for the front page (styles passed in so it matches the clause matrix); empty without rows.

    Containment rows for a handler and node RC-USE-8 did not observe get a row of their own."""
    containment = list(containment or [])
    seen = {(r["handler"], r["node"]) for r in rows}
    rows = [*rows, *({"handler": r["handler"], "node": r["node"], "observed": "(not observed)"}
                     for r in containment if (r["handler"], r["node"]) not in seen)]
    if not rows:
        return ""
    parts = [table_start("Isolation per handler (RC-USE-8)", "isolation", WIDTHS, COLUMNS, table, th)]
    for row in rows:
        expected = row.get("expected") or "(not declared)"
        if row.get("expected_runtime"):
            expected += f" · {row['expected_runtime']}"
        declared_by = f'<br><small>{_e(row["declared_by"])}</small>' if row.get("declared_by") else ""
        colour = VERDICT_COLOURS.get(row.get("verdict", ""), "inherit")
        parts.append(
            f'<tr data-isolation="{_e(row["handler"])}/{_e(row["node"])}" data-verdict="{_e(row.get("verdict", ""))}">'
            f'<td {td}><b>{_e(row["handler"])}</b>{_class_of(row)}</td><td {td}>{_e(row["node"])}</td>'
            f'<td {td}>{_e(expected)}{declared_by}</td>'
            f'<td {td}><b style="color:{colour}">{_e(row.get("observed", ""))}</b></td>'
            f'<td {td}>{_e(row.get("runtime") or "(no node evidence)")}</td>'
            f'<td {td}>{_containment(row, containment, not_run)}</td><td {td}>{_evidence(row)}</td></tr>')
    parts.append("</tbody></table>")
    return "\n".join(parts)


def _class_of(row: Mapping[str, Any]) -> str:
    """The platform class a row's Pod used, under the handler (issue 19)."""
    return f'<br><small>class {_e(row["platform_class"])}</small>' if row.get("platform_class") else ""


def _containment(row: Mapping[str, Any], containment: list[Mapping[str, Any]], not_run: str) -> str:
    verdict, why = containment_cell(row["handler"], row["node"], containment, not_run)
    colour = CONTAINMENT_COLOURS.get(verdict, "inherit")
    return (f'<b data-containment="{_e(verdict)}" style="color:{colour}">{_e(verdict)}</b>'
            + (f"<br><small>{_e(why)}</small>" if why else ""))


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


def containment_variables(containment: list[Mapping[str, Any]]) -> dict[str, str]:
    """`containment <handler>` -> inside / escaped per node, for the front page (only when RC-OVH-8 ran)."""
    by_handler: dict[str, list[str]] = {}
    for row in containment:
        by_handler.setdefault(row["handler"], []).append(f"{row['containment']} on {row['node']}")
    return {f"containment {handler}": "; ".join(seen) for handler, seen in sorted(by_handler.items())}

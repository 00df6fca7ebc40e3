"""The front page's HTML tables (isolation, platform classes): their shared opening and escaping.

No I/O here. Styles come from the caller, so every table matches the clause matrix beside it.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def table_start(title: str, key: str, widths: Sequence[str], columns: Sequence[str], table: str, th: str) -> str:
    """A heading, then the table's opening up to its body: `data-rcc=key` lets reports/check_report.py find it."""
    return (f'<h3 style="margin:12px 0 4px 0">{title}</h3>'
            f'<table data-rcc="{key}" {table}><colgroup>'
            + "".join(f'<col style="width:{w}">' for w in widths) + "</colgroup><thead><tr>"
            + "".join(f"<th {th}>{c}</th>" for c in columns) + "</tr></thead><tbody>")

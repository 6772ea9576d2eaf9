"""The zoo as a Markdown table (docs/zoo.md), derived from the specs and measured.json."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional

from .registry import list_models

START, END = "<!-- zoo-table:start -->", "<!-- zoo-table:end -->"
_BLOCK = re.compile(re.escape(START) + r"(.*?)" + re.escape(END), re.S)


def fmt(v: Optional[float], spec: str = "{:.2f}") -> str:
    """A number for a table ('-' when unknown)."""
    return "-" if v is None else spec.format(v)


def markdown_table(rows: Optional[List[Dict[str, Any]]] = None) -> str:
    """One Markdown row per zoo model: measured beside paper params/FLOPs, the paper's results."""
    rows = list_models() if rows is None else rows
    lines = ["| model | family | dim | params M (ours / paper) | GFLOPs (ours / paper) | Market-1501 mAP / R1 "
             "| MSMT17 mAP / R1 |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| `{r['name']}` | {r['family']} | {r['embed_dim']} | {fmt(r['params_m'])} / "
            f"{fmt(r['paper_backbone_params_m'])} | {fmt(r['flops_g'])} / {fmt(r['paper_flops_g'])} | "
            f"{fmt(r['market1501_map'], '{:.1f}')} / {fmt(r['market1501_rank1'], '{:.1f}')} | "
            f"{fmt(r['msmt17_map'], '{:.1f}')} / {fmt(r['msmt17_rank1'], '{:.1f}')} |")
    return "\n".join(lines)


def table_in(text: str) -> str:
    """The zoo table between the markers of a document ('' without markers)."""
    m = _BLOCK.search(text)
    return m.group(1).strip("\n") if m else ""


def refresh_doc_table(path: Path) -> bool:
    """Rewrite the table between the markers of `path`; True if it changed."""
    text = path.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{path} has no {START} ... {END} block for the zoo table")
    new = _BLOCK.sub(lambda _: f"{START}\n{markdown_table()}\n{END}", text)
    if new == text:
        return False
    path.write_text(new)
    return True

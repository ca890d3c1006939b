"""Generated samples as people read them: reports/samples.md, the model rows side by side."""

from __future__ import annotations

import html
from collections import defaultdict
from typing import Any


def samples_markdown(samples: list[dict[str, Any]], preset: str) -> str:
    """One section per theme; each table row holds one seed's poem from every model row
    under its prompt, with the lines the quoting check found in known texts listed under
    it and, where a form was requested, whether the poem followed it."""
    by_theme: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        by_theme[s["theme"]][s["model"]].append(s)
    models = list(dict.fromkeys(s["model"] for s in samples))
    out = [f"# Samples: {', '.join(models)} ({preset})", "",
           "Same prompts, seeds and decoding for every row.", ""]
    for theme, rows in by_theme.items():
        out += [f"## {theme}", "", "<table>", "<tr>" + "".join(f"<th>{m}</th>" for m in models) + "</tr>"]
        for k in range(max(len(v) for v in rows.values())):
            first = next(rows[m][k] for m in models if k < len(rows[m]))
            if first.get("prompt"):
                out.append(f'<tr><td colspan="{len(models)}"><i>{html.escape(first["prompt"])}</i></td></tr>')
            cells = "".join(f"<td>{_cell(rows[m][k]) if k < len(rows[m]) else ''}</td>" for m in models)
            out.append(f"<tr>{cells}</tr>")
        out += ["</table>", ""]
    return "\n".join(out)


def _cell(sample: dict[str, Any]) -> str:
    body = f"<pre>{html.escape(sample['text']) or '(empty)'}</pre>"
    if sample.get("compliance"):
        body += "<br>form: " + ", ".join(f"{k} {'yes' if ok else 'no'}" for k, ok in sample["compliance"].items()
                                         if k != "all")
    copied = (sample.get("quoting") or {}).get("copied_lines") or []
    if copied:
        body += "<br>copied: " + "; ".join(
            f"{html.escape(c['line'])} ← {html.escape(str(c['doc_id']))} ({c['kind']})" for c in copied)
    return body

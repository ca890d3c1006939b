"""Generated samples as people read them: reports/samples.md, base and adapted side by side."""

from __future__ import annotations

import html
from collections import defaultdict
from typing import Any


def samples_markdown(samples: list[dict[str, Any]], prompt_template: str, preset: str) -> str:
    """One section per theme; each row pairs the base and the adapted poem of one seed."""
    by_theme: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        by_theme[s["theme"]][s["model"]].append(s)
    out = [f"# Samples: base vs adapted ({preset})", "",
           f"Prompt: «{prompt_template}». Same seeds and decoding for both models.", ""]
    for theme, models in by_theme.items():
        out += [f"## {theme}", "", "<table>", "<tr><th>base</th><th>adapted</th></tr>"]
        for base, adapted in zip(models["base"], models["adapted"], strict=True):
            cells = "".join(f"<td><pre>{html.escape(x['text']) or '(empty)'}</pre></td>" for x in (base, adapted))
            out.append(f"<tr>{cells}</tr>")
        out += ["</table>", ""]
    return "\n".join(out)

"""Self-contained HTML pages of circuitsvis attention views that render offline.

circuitsvis's ``str(view)`` imports its JavaScript from a CDN (blank offline) and its
``local_src`` inlines the 1.3 MB bundle into every view. A page here inlines the bundle shipped
in the circuitsvis wheel (``circuitsvis/dist/cdn/iife.js``, which defines the global
``CircuitsVis``) once, in a classic ``<script>``, then makes one small
``CircuitsVis.render(id, CircuitsVis.AttentionHeads, props)`` call per view. No script is
loaded from anywhere else.

Example:
    >>> view = AttentionView("demo", ["a", "b"], torch.tensor([[[1.0, 0.0], [0.5, 0.5]]]), ["L0H0"])
    >>> html = attention_page([view], title="demo")  # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jaxtyping import Float
from torch import Tensor

from mechcirc.errors import MechcircError, UsageError

__all__ = [
    "AttentionView",
    "attention_page",
    "circuitsvis_bundle",
    "script_json",
    "write_attention_page",
]


@dataclass(frozen=True)
class AttentionView:
    """One circuitsvis ``AttentionHeads`` view: a prompt's tokens and some heads' patterns."""

    title: str
    tokens: list[str]
    patterns: Float[Tensor, "head q k"]
    head_names: list[str]

    def __post_init__(self) -> None:
        n = len(self.tokens)
        if self.patterns.ndim != 3 or self.patterns.shape[1:] != (n, n):
            raise UsageError(
                f"patterns must be [head, q, k] with q = k = {n} tokens, "
                f"got {tuple(self.patterns.shape)}"
            )
        if len(self.head_names) != self.patterns.shape[0]:
            raise UsageError(
                f"need one head name per pattern: {self.patterns.shape[0]} patterns, "
                f"{len(self.head_names)} names"
            )

    def props(self) -> dict:
        return {
            "attention": self.patterns.detach().float().cpu().tolist(),
            "tokens": self.tokens,
            "attentionHeadNames": self.head_names,
        }


@cache
def circuitsvis_bundle() -> str:
    """circuitsvis's browser bundle, safe to inline in one ``<script>`` element."""
    import circuitsvis

    path = Path(circuitsvis.__file__).parent / "dist" / "cdn" / "iife.js"
    if not path.is_file():
        raise MechcircError(f"circuitsvis's JavaScript bundle is missing at {path}; reinstall it")
    # "</script" inside a JS string would end the element; "<\/script" is the same string.
    return path.read_text(encoding="utf-8").replace("</script", "<\\/script")


def script_json(value) -> str:
    """JSON that can sit inside ``<script>``: ``<``, ``>`` and ``&`` are escaped."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def attention_page(views: Sequence[AttentionView], title: str = "Attention patterns") -> str:
    """A complete HTML document showing ``views``, with the bundle inlined once."""
    if not views:
        raise UsageError("an attention page needs at least one view")
    sections = "\n".join(
        f'<section><h2>{html.escape(view.title)}</h2><div id="view-{i}"></div></section>'
        for i, view in enumerate(views)
    )
    calls = "\n".join(
        f'CircuitsVis.render("view-{i}", CircuitsVis.AttentionHeads, {script_json(view.props())});'
        for i, view in enumerate(views)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        "<style>body{font-family:sans-serif;margin:2em}section{margin-bottom:3em}</style>\n"
        f"</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{sections}\n"
        f"<script>\n{circuitsvis_bundle()}\n</script>\n<script>\n{calls}\n</script>\n"
        "</body>\n</html>\n"
    )


def write_attention_page(
    path: str | Path, views: Sequence[AttentionView], title: str = "Attention patterns"
) -> Path:
    """Write ``attention_page(views, title)`` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(attention_page(views, title), encoding="utf-8")
    return path

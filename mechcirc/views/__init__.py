"""Views: offline circuitsvis attention pages, heatmaps of ``[layer, head]`` tables, and the
one figure saver (``save_figure``: PNG and SVG) that every plot of the project goes through.
"""

from mechcirc.views.attention import attention_views, select_heads
from mechcirc.views.figures import save_figure
from mechcirc.views.heatmap import save_heatmap
from mechcirc.views.html_page import (
    AttentionView,
    attention_page,
    circuitsvis_bundle,
    write_attention_page,
)

__all__ = [
    "AttentionView",
    "attention_page",
    "attention_views",
    "circuitsvis_bundle",
    "save_figure",
    "save_heatmap",
    "select_heads",
    "write_attention_page",
]

"""Views: offline circuitsvis attention pages and heatmaps of ``[layer, head]`` tables."""

from mechcirc.views.attention import attention_views, select_heads
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
    "save_heatmap",
    "select_heads",
    "write_attention_page",
]

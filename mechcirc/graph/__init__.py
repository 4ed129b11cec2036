"""Circuit graphs: layout (node and edge names), scores, selection, I/O and rendering."""

from mechcirc.graph.layout import GraphLayout

__all__ = ["GraphLayout"]

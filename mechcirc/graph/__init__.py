"""Circuit graphs: layout (node and edge names), scores, selection, I/O and rendering."""

from mechcirc.graph.circuit import SELECTION_METHODS, CircuitGraph
from mechcirc.graph.layout import GraphLayout

__all__ = ["SELECTION_METHODS", "CircuitGraph", "GraphLayout"]

"""EAP / EAP-IG edge attribution, exact patching, faithfulness and circuit search.

Example:
    >>> from mechcirc.analyses.eap import attribute, FaithfulnessEvaluator, smallest_circuit
    >>> result = attribute(model, pairs, "eap-ig-inputs", ig_steps=5)          # doctest: +SKIP
    >>> evaluator = FaithfulnessEvaluator(model, pairs)                         # doctest: +SKIP
    >>> search = smallest_circuit(evaluator, result.graph, target=0.8)          # doctest: +SKIP
    >>> search.circuit.save_svg("circuit.svg")                                  # doctest: +SKIP
"""

from mechcirc.analyses.eap.attribution import (
    DEFAULT_IG_STEPS,
    DEFAULT_METHOD,
    METHODS,
    Attribution,
    attribute,
)
from mechcirc.analyses.eap.exact import exact_scores
from mechcirc.analyses.eap.faithfulness import Faithfulness, FaithfulnessEvaluator
from mechcirc.analyses.eap.pipeline import CircuitRun, EAPConfig, find_circuit
from mechcirc.analyses.eap.search import (
    CRITERIA,
    DEFAULT_TARGET,
    SELECTIONS,
    CircuitSearch,
    select_circuit,
    smallest_circuit,
)

__all__ = [
    "CRITERIA",
    "SELECTIONS",
    "CircuitRun",
    "EAPConfig",
    "find_circuit",
    "DEFAULT_IG_STEPS",
    "DEFAULT_METHOD",
    "DEFAULT_TARGET",
    "METHODS",
    "Attribution",
    "CircuitSearch",
    "Faithfulness",
    "FaithfulnessEvaluator",
    "attribute",
    "exact_scores",
    "select_circuit",
    "smallest_circuit",
]

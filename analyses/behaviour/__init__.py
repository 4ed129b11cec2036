"""Task behaviour of a model: clean and corrupted mean metric and accuracy (``mechcirc.analyses
.behaviour``).

Example:
    >>> from mechcirc.analyses.behaviour import BehaviourConfig, measure_behaviour
    >>> result = measure_behaviour(model, pairs, BehaviourConfig())  # doctest: +SKIP
    >>> result.clean, result.accuracy                                 # doctest: +SKIP
    (3.2, 0.97)
"""

from mechcirc.analyses.behaviour.pipeline import Behaviour, BehaviourConfig, measure_behaviour

__all__ = ["Behaviour", "BehaviourConfig", "measure_behaviour"]

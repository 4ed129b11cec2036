"""The sweep analyses mechcirc ships, registered on import: ``behaviour``, ``eap``, ``heads``,
``ioi-components``."""

from mechcirc.sweep.behaviour_step import BehaviourAnalysis
from mechcirc.sweep.components_step import ComponentsAnalysis
from mechcirc.sweep.eap_step import EAPAnalysis
from mechcirc.sweep.heads_step import HeadsAnalysis
from mechcirc.sweep.registry import register_analysis

__all__ = ["BehaviourAnalysis", "ComponentsAnalysis", "EAPAnalysis", "HeadsAnalysis"]

for _analysis in (BehaviourAnalysis(), EAPAnalysis(), HeadsAnalysis(), ComponentsAnalysis()):
    register_analysis(_analysis)

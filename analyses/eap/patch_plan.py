"""Which destinations a circuit patches, and from which sources, worked out once per circuit.

A destination ``d`` of a circuit reads ``sum over its in-circuit sources s of a_s(this run) +
sum over the others of a_s(corrupted run)`` (plus the biases, the same in every run). With
``delta_s = a_s(this run) - a_s(corrupted run)`` that is either

- ``corrupted residual at d + sum over in-circuit s of delta_s``, or
- ``this run's residual at d - sum over patched s of delta_s``,

whichever sum is shorter. So each destination is one of:

- *untouched*: every edge into it is in the circuit (it reads this run's residual; no hook);
- *corrupted*: no edge into it is in the circuit (it reads the corrupted run's residual, or
  for a head, takes its corrupted q/k/v as they were);
- *mixed*: a signed sum of a few sources' differences added to one of the two residuals.

Only the sources some mixed destination reads need their difference computed (the plan's
``sources``, in forward order: a destination's sources are a prefix of them). An empty circuit
reproduces the corrupted run and the full circuit the clean run, without any arithmetic.

Example:
    >>> layout = GraphLayout(n_layers=1, n_heads=1, n_kv_heads=1, parallel_attn_mlp=False)
    >>> in_graph = layout.real_edges.clone()
    >>> in_graph[layout.src_index("input"), layout.dst_index("logits")] = False
    >>> plan = PatchPlan.from_mask(layout, in_graph)
    >>> plan.sources.tolist(), plan.logits.mixed.tolist(), plan.logits.weights.tolist()
    ([0], [0], [[-1.0]])
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from mechcirc.graph import GraphLayout

__all__ = ["DestinationGroup", "PatchPlan"]


@dataclass(frozen=True)
class DestinationGroup:
    """Destinations one hook point feeds (a layer's q/k/v heads, an MLP or the logits).

    Indices are local to the group (0 is its first destination). ``weights[i]`` is the signed
    sum mixed destination ``i`` adds over the plan's first ``weights.shape[1]`` sources:
    ``+1`` per in-circuit source when ``from_corrupted[i]``, else ``-1`` per patched one.
    """

    corrupted: Int[Tensor, " n_corrupted"]
    mixed: Int[Tensor, " n_mixed"]
    from_corrupted: Bool[Tensor, " n_mixed"]
    weights: Float[Tensor, "n_mixed n_sources"]

    @property
    def untouched(self) -> bool:
        return not (len(self.corrupted) or len(self.mixed))

    def to(self, device: torch.device | str) -> DestinationGroup:
        return DestinationGroup(
            *(t.to(device) for t in (self.corrupted, self.mixed, self.from_corrupted, self.weights))
        )


@dataclass(frozen=True)
class PatchPlan:
    """Per destination group what to patch, and the sources whose differences it reads."""

    sources: Int[Tensor, " n_sources"]
    attn: tuple[DestinationGroup, ...]
    mlp: tuple[DestinationGroup, ...]
    logits: DestinationGroup
    n_edges: int  # real edges in the circuit

    @classmethod
    def from_mask(cls, layout: GraphLayout, in_graph: Bool[Tensor, "n_src n_dst"]) -> PatchPlan:
        """The plan of circuit ``in_graph`` (entries that are not edges are ignored)."""
        real = layout.real_edges
        inside = in_graph.cpu().bool() & real
        patched = real & ~inside
        n_in, n_patched = inside.sum(0), patched.sum(0)
        from_corrupted = n_in <= n_patched
        signed = torch.where(from_corrupted, inside.float(), -patched.float())
        mixed = (n_in > 0) & (n_patched > 0)
        signed[:, ~mixed] = 0.0
        sources = signed.ne(0).any(1).nonzero()[:, 0]
        rows = signed[sources]

        def group(cols: slice, n_before: int) -> DestinationGroup:
            local = torch.arange(cols.stop - cols.start)
            is_mixed = mixed[cols]
            n_sources = int((sources < n_before).sum())
            return DestinationGroup(
                corrupted=local[(n_in[cols] == 0) & (n_patched[cols] > 0)],
                mixed=local[is_mixed],
                from_corrupted=from_corrupted[cols][is_mixed],
                weights=rows[:n_sources, cols][:, is_mixed].T.contiguous(),
            )

        attn, mlp = [], []
        for layer in range(layout.n_layers):
            qkv = slice(layout.q_dst(layer).start, layout.v_dst(layer).stop)
            attn.append(group(qkv, layout.n_src_before("q", layer)))
            dst = layout.mlp_dst(layer)
            mlp.append(group(slice(dst, dst + 1), layout.n_src_before("mlp", layer)))
        dst = layout.logits_dst
        logits = group(slice(dst, dst + 1), layout.n_src)
        return cls(sources, tuple(attn), tuple(mlp), logits, int(inside.sum()))

    def to(self, device: torch.device | str) -> PatchPlan:
        return replace(
            self,
            sources=self.sources.to(device),
            attn=tuple(g.to(device) for g in self.attn),
            mlp=tuple(g.to(device) for g in self.mlp),
            logits=self.logits.to(device),
        )

    @property
    def is_clean(self) -> bool:
        """No edge is patched: the patched run is the clean run."""
        return all(g.untouched for g in (*self.attn, *self.mlp, self.logits))

    @property
    def is_corrupted(self) -> bool:
        """No edge is in the circuit: the patched run is the corrupted run."""
        return self.n_edges == 0

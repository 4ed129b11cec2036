"""Several decompositions with the same settings fitted at once: seeds, divergences, toys.

A toy's L3D step costs its per-operation overhead (tens of small tensor operations), not its
arithmetic, so ``M`` decompositions that share every setting but the seed (and the data, the
trained model or the divergence behind their gradients) are fitted as one: their subnetworks are
concatenated into one :class:`~.subnetworks.Subnetworks` of ``M x n_v`` rows
(:class:`SubnetworkStack`), each step's gradients are ``[M, batch, n_params]``, batch top-k and
the loss are per member, and the summed loss is minimised by one AdamW. Every member's rows get
exactly the gradient they would get alone (the losses are independent) and AdamW, the
renormalisation and the Tucker products work row by row, so each member follows the steps of its
own fit (:func:`fit_members` equals separate :func:`~.training.fit` calls to float rounding,
tested) for about the cost of one.

Example:
    >>> import torch
    >>> config = L3DConfig(n_subnetworks=2, steps=5, batch_size=16)
    >>> members = [Subnetworks({"w": (3, 2)}, 2, seed=s) for s in (0, 1)]
    >>> batches = [lambda step: torch.randn(16, 6)] * 2
    >>> [s.step for s in fit_members(batches, members, config, progress=False)]
    [5, 5]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from jaxtyping import Float
from torch import Tensor, nn

from mechcirc.analyses.l3d.batches import TrainingBatches, chain_rule_gradients, step_generator
from mechcirc.analyses.l3d.config import L3DConfig
from mechcirc.analyses.l3d.gradients import divergence_fn, reference_indices
from mechcirc.analyses.l3d.subnetworks import Subnetworks
from mechcirc.analyses.l3d.training import L3DState, fit, new_state
from mechcirc.errors import UsageError

__all__ = ["StackedBatches", "SubnetworkStack", "fit_members", "split_state"]


def _layout(subnetworks: Subnetworks) -> tuple:
    return subnetworks.shapes, subnetworks.ranks, subnetworks.n_subnetworks


def _empty_like(member: Subnetworks, n_subnetworks: int) -> Subnetworks:
    return Subnetworks(member.shapes, n_subnetworks, ranks=member.ranks)


class SubnetworkStack:
    """``M`` :class:`Subnetworks` of one layout as one of ``M x n_v`` rows, applied per member.

    Has what :func:`~.training.fit` uses of a :class:`Subnetworks`: ``project`` and ``expand``
    on ``[M, batch, ...]`` tensors, ``renormalise`` and ``parameters``.
    """

    def __init__(self, members: Sequence[Subnetworks]):
        if not members:
            raise UsageError("a subnetwork stack needs at least one member")
        layouts = {repr(_layout(m)) for m in members}
        if len(layouts) > 1:
            raise UsageError(f"stacked decompositions must share one layout, got {layouts}")
        first = members[0]
        self.n_members, self.n_subnetworks = len(members), first.n_subnetworks
        self.n_params = first.n_params
        self.joint = _empty_like(first, self.n_members * self.n_subnetworks)
        states = [m.state_dict() for m in members]
        self.joint.load_state_dict({k: torch.cat([s[k] for s in states]) for k in states[0]})
        self.joint.to(next(first.parameters()).device)

    def _dense(self, which: str) -> Float[Tensor, "members n_subnetworks n_params"]:
        return self.joint.dense(which).view(self.n_members, self.n_subnetworks, self.n_params)

    @staticmethod
    def _dense_only(chunk: int) -> None:
        if chunk > 0:
            raise UsageError("stacked decompositions use the dense maps: subnetwork_chunk 0")

    def project(
        self, gradients: Float[Tensor, "members batch n_params"], which: str = "in", chunk: int = 0
    ) -> Float[Tensor, "members batch n_subnetworks"]:
        self._dense_only(chunk)
        return gradients @ self._dense(which).mT

    def expand(
        self,
        coefficients: Float[Tensor, "members batch n_subnetworks"],
        which: str = "out",
        chunk: int = 0,
    ) -> Float[Tensor, "members batch n_params"]:
        self._dense_only(chunk)
        return coefficients @ self._dense(which)

    def renormalise(self, chunk: int = 0) -> None:
        self._dense_only(chunk)
        self.joint.renormalise()

    def parameters(self) -> Iterator[nn.Parameter]:
        return self.joint.parameters()

    def rows(self, member: int) -> slice:
        return slice(member * self.n_subnetworks, (member + 1) * self.n_subnetworks)

    def member(self, index: int) -> Subnetworks:
        """Member ``index`` as its own :class:`Subnetworks` (a copy of its rows)."""
        rows = self.rows(index)
        subnetworks = _empty_like(self.joint, self.n_subnetworks)
        subnetworks.load_state_dict({k: v[rows] for k, v in self.joint.state_dict().items()})
        return subnetworks.to(next(self.joint.parameters()).device)


class StackedBatches:
    """``batches(step)`` -> ``[M, batch, n_params]``, the members' :class:`TrainingBatches`
    at once: members with pooled Jacobians (toys) share one gather and one product."""

    def __init__(self, members: Sequence[TrainingBatches]):
        self.members = list(members)
        self.jacobians = None
        if all(b.jacobians is not None for b in self.members):
            self.jacobians = torch.stack([b.jacobians for b in self.members])
            self.outputs = torch.stack([b.outputs for b in self.members])
            self.divergences = [divergence_fn(b.target.divergence) for b in self.members]

    def __call__(self, step: int) -> Float[Tensor, "members batch n_params"]:
        if self.jacobians is None:
            return torch.stack([batches(step) for batches in self.members])
        rows = torch.stack([b.rows(step) for b in self.members])
        n = rows.shape[1]
        references = torch.stack(  # each member's own draw, as its TrainingBatches draws it
            [reference_indices(n, step_generator(b.config.seed, step)) for b in self.members]
        )
        member = torch.arange(len(self.members))[:, None]
        outputs = self.outputs[member, rows]
        return chain_rule_gradients(
            outputs, outputs[member, references], self.jacobians[member, rows], self.divergences
        )


def _member_optimizer_state(optimizer: torch.optim.Optimizer, rows: slice) -> dict:
    saved = optimizer.state_dict()
    state = {
        index: {k: v if k == "step" else v[rows].clone() for k, v in slots.items()}
        for index, slots in saved["state"].items()
    }
    return {"state": state, "param_groups": saved["param_groups"]}


def _member_log(log: list[dict], member: int) -> list[dict]:
    return [
        {**row, "loss": row["loss"][member], "dead_subnetworks": row["dead_subnetworks"][member]}
        for row in log
    ]


def split_state(state: L3DState, config: L3DConfig) -> list[L3DState]:
    """A stacked fit's state as each member's own (subnetworks, AdamW moments, step, log), the
    state its own fit would have reached: a member folder's checkpoint resumes alone."""
    stack = state.subnetworks
    states = []
    for m in range(stack.n_members):
        member = new_state(stack.member(m), config)
        member.optimizer.load_state_dict(_member_optimizer_state(state.optimizer, stack.rows(m)))
        member.step, member.log = state.step, _member_log(state.log, m)
        states.append(member)
    return states


def fit_members(
    gradient_batches: Sequence[Callable[[int], Tensor]],
    subnetworks: Sequence[Subnetworks],
    config: L3DConfig,
    *,
    progress: bool = True,
) -> list[L3DState]:
    """Fit member ``i``'s ``subnetworks[i]`` to ``gradient_batches[i](step)``, all at once.

    ``subnetworks`` must share one layout (same parameter shapes, ``n_v`` and ranks); the
    members differ in their initialisation and their gradients. :class:`TrainingBatches`
    streams are gathered together (:class:`StackedBatches`).
    """
    if len(gradient_batches) != len(subnetworks):
        raise UsageError(
            f"{len(gradient_batches)} gradient streams for {len(subnetworks)} decompositions"
        )
    stack = SubnetworkStack(subnetworks)
    if all(isinstance(b, TrainingBatches) for b in gradient_batches):
        stacked = StackedBatches(gradient_batches)
    else:
        stacked = lambda step: torch.stack([b(step) for b in gradient_batches])  # noqa: E731
    return split_state(fit(stacked, stack, config, progress=progress), config)

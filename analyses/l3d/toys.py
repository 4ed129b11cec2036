"""The paper's toy models with their sparse-feature data, and mechcirc's earlier variants.

As the paper (Chrisman et al. 2025) and the authors' scripts set them:

- ``tms``: toy model of superposition, 5 features -> 2, ``relu(x W W^T + b)`` trained with tied
  weights, decomposed untied (``W_in``, ``W_out``, ``b``) as the authors do.
- ``circuit-superposition`` (TMCS): the TMS architecture with biases, 10 -> 5 -> 10,
  ``relu(x W_in W_out + b)`` trained on ``y = x A`` with ``A ~ U[0, 3]``.
- ``high-rank``: the same with 25 inputs and outputs, 10 hidden, inputs in 5 groups of 5 that
  are active together (the authors' script uses 30 inputs in 6 groups; the draft says 25 in 5).
- ``squares``: ``X -> X^2`` elementwise, 5 -> four hidden GELU layers of 5 -> 5 (the draft says
  GeLU), signed inputs; ``squares-elu``: the same with ELU after every layer, the output
  included, as the authors' ``CustomMLP`` (their released code).

Inputs: each feature (or group) is active independently with probability 0.05 with a value
uniform in ``[0, 1]`` (``[-1, 1]`` for ``squares``); like the authors' ``GenerateTMSInputs``,
inputs with no active feature are redrawn. mechcirc's earlier variants keep their names:
``tms-tied`` (the tied ``W`` decomposed, empty inputs kept), ``circuit-superposition-nobias``
(no biases, ``A = B H``, probability 0.01, top-k 0.02) and ``squares-relu`` (5 -> 10 ReLU -> 5).

Every forward broadcasts over leading dimensions of its parameters and inputs (``x @ W``, not
``F.linear``), so a model whose parameters are stacked ``[n_models, ...]`` runs ``n_models``
toys on ``[n_models, batch, d_in]`` inputs at once (:mod:`.toy_training` trains seeds so).

Example:
    >>> toy = TOYS["circuit-superposition"]
    >>> model = toy.build(seed=0)
    >>> x = toy.sample(torch.Generator().manual_seed(0), 4)
    >>> model(x).shape, bool((x != 0).any(1).all())
    (torch.Size([4, 10]), True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from jaxtyping import Float
from torch import Tensor, nn

from mechcirc.errors import UsageError

__all__ = ["TOYS", "DeepMLP", "TMSNet", "ToySpec", "decomposition_module", "get_toy"]


class TMSNet(nn.Module):
    """``relu(x W_in W_out + b)``; ``tied``: ``W_out = W_in^T`` (the toy model of superposition).

    May store the target map ``A [d_in, d_out]`` as a buffer (circuit superposition).
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, *, tied: bool = False, A=None):
        super().__init__()
        self.tied = tied
        if tied:
            self.W = nn.Parameter(nn.init.xavier_normal_(torch.empty(d_in, d_hidden)))
        else:
            self.W_in = nn.Parameter(torch.randn(d_in, d_hidden))
            self.W_out = nn.Parameter(torch.randn(d_hidden, d_out))
        self.b = nn.Parameter(torch.zeros(d_out))
        if A is not None:
            self.register_buffer("A", A)

    def forward(
        self, x: Float[Tensor, "*models batch d_in"]
    ) -> Float[Tensor, "*models batch d_out"]:
        W_in, W_out = (self.W, self.W.mT) if self.tied else (self.W_in, self.W_out)
        return torch.relu(x @ W_in @ W_out + self.b.unsqueeze(-2))

    def untied(self) -> TMSNet:
        """The same function with separate ``W_in`` and ``W_out`` parameters."""
        if not self.tied:
            return self
        d_in, d_hidden = self.W.shape
        net = TMSNet(d_in, d_hidden, d_in)
        with torch.no_grad():
            net.W_in.copy_(self.W)
            net.W_out.copy_(self.W.T)
            net.b.copy_(self.b)
        return net.eval().requires_grad_(False)


class DeepMLP(nn.Module):
    """Linear layers ``layers.0 .. n`` (``layers.0.weight``, ``layers.1.bias``) with
    ``activation`` after each hidden layer (and after the output with ``activate_output``, as the
    authors' ``CustomMLP``); He-normal weights, biases ``U[0.01, 1]``."""

    def __init__(self, widths: list[int], activation: str = "gelu", activate_output: bool = False):
        super().__init__()
        self.activation = {"gelu": nn.GELU(), "relu": nn.ReLU(), "elu": nn.ELU()}[activation]
        self.activate_output = activate_output
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths, widths[1:], strict=False)
        )
        for layer in self.layers:
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            nn.init.uniform_(layer.bias, 0.01, 1.0)

    def forward(
        self, x: Float[Tensor, "*models batch d_in"]
    ) -> Float[Tensor, "*models batch d_out"]:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = x @ layer.weight.mT + layer.bias.unsqueeze(-2)
            if i < last or self.activate_output:
                x = self.activation(x)
        return x


@dataclass(frozen=True)
class ToySpec:
    """A toy model, its data and task, and the paper's L3D settings and result for it."""

    name: str
    description: str
    n_features: int
    make: Callable[[], nn.Module]
    task: Callable[[nn.Module, Tensor], Tensor]  # the ideal output for inputs x
    signed: bool = False
    feature_probability: float = 0.05
    group_size: int = 1  # features active together
    nonzero_only: bool = True  # redraw inputs with no active feature (the authors' data)
    decomposed: Callable[[nn.Module], nn.Module] = field(default=lambda model: model)
    n_subnetworks: int = 5
    rank: int = 1
    topk: float = 0.1
    paper_loss: float | None = None  # the paper's reconstruction loss
    paper_note: str = ""

    def build(self, seed: int = 0) -> nn.Module:
        """The model initialised from ``seed``; the caller's global RNG state is left untouched."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.make()

    def sample(self, generator: torch.Generator, n: int) -> Float[Tensor, "n n_features"]:
        """``n`` inputs; with ``nonzero_only``, inputs with no active feature are redrawn."""
        batches, kept = [], 0
        while kept < n:
            x = self._draw(generator, n)
            if self.nonzero_only:
                x = x[(x != 0).any(1)]
            batches.append(x)
            kept += len(x)
        return torch.cat(batches)[:n]

    def _draw(self, generator: torch.Generator, n: int) -> Tensor:
        n_groups = self.n_features // self.group_size
        active = torch.rand(n, n_groups, generator=generator) < self.feature_probability
        active = active.repeat_interleave(self.group_size, dim=1)
        values = torch.rand(n, self.n_features, generator=generator)
        if self.signed:
            values = 2 * values - 1
        return active * values


def _circuit_map(n: int, d_hidden: int, per_feature: int = 2) -> Tensor:
    """``A = B H`` (``[n_out, n_in]``): each feature's circuit uses ``per_feature`` of the
    ``d_hidden`` neurons (``H >= 0``), so a ReLU layer that narrow can implement A.

    Draws from the global generator: call it only inside :meth:`ToySpec.build`."""
    H = torch.zeros(d_hidden, n)
    for i in range(n):
        H[torch.randperm(d_hidden)[:per_feature], i] = 0.5 + torch.rand(per_feature)
    return torch.randn(n, d_hidden) / d_hidden**0.5 @ H


def _tmcs(n: int, d_hidden: int) -> TMSNet:
    return TMSNet(n, d_hidden, n, A=torch.rand(n, n) * 3)


class _BiaslessMLP(nn.Module):
    """``W2 relu(W1 x)`` with a target map ``A [d_out, d_in]`` (mechcirc's earlier TMCS)."""

    def __init__(self, n: int, d_hidden: int):
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(d_hidden, n) / n**0.5)
        self.W2 = nn.Parameter(torch.randn(n, d_hidden) / d_hidden**0.5)
        self.register_buffer("A", _circuit_map(n, d_hidden))

    def forward(self, x: Float[Tensor, "*models batch n"]) -> Float[Tensor, "*models batch n"]:
        return torch.relu(x @ self.W1.mT) @ self.W2.mT


TOYS: dict[str, ToySpec] = {
    spec.name: spec
    for spec in (
        ToySpec(
            "tms",
            "toy model of superposition, 5 -> 2 -> 5, tied, decomposed untied",
            n_features=5,
            make=lambda: TMSNet(5, 2, 5, tied=True),
            task=lambda model, x: x,
            decomposed=lambda model: model.untied(),
            paper_loss=0.19,
        ),
        ToySpec(
            "tms-tied",
            "toy model of superposition, 5 -> 2 -> 5, tied W decomposed, empty inputs kept",
            n_features=5,
            make=lambda: TMSNet(5, 2, 5, tied=True),
            task=lambda model, x: x,
            nonzero_only=False,
            paper_loss=0.19,
        ),
        ToySpec(
            "circuit-superposition",
            "circuit superposition X -> XA, 10 -> 5 -> 10 with biases, A ~ U[0, 3]",
            n_features=10,
            make=lambda: _tmcs(10, 5),
            task=lambda model, x: x @ model.A,
            n_subnetworks=10,
            paper_loss=0.064,
            paper_note="recovered-A r2 0.92",
        ),
        ToySpec(
            "circuit-superposition-nobias",
            "circuit superposition X -> AX, 10 -> 5 -> 10, no biases, A = B H, p = 0.01",
            n_features=10,
            make=lambda: _BiaslessMLP(10, 5),
            task=lambda model, x: x @ model.A.mT,
            feature_probability=0.01,
            nonzero_only=False,
            n_subnetworks=10,
            topk=0.02,
            paper_loss=0.064,
        ),
        ToySpec(
            "high-rank",
            "higher-rank circuits X -> XA, 25 -> 10 -> 25, 5 groups of 5 co-active inputs",
            n_features=25,
            make=lambda: _tmcs(25, 10),
            task=lambda model, x: x @ model.A,
            group_size=5,
            n_subnetworks=10,
            rank=3,
            paper_note="loss about equal at rank 1 and 5; one subnetwork per group",
        ),
        ToySpec(
            "squares",
            "X -> X^2 elementwise, 5 -> 4 hidden GELU layers of 5 -> 5, signed inputs",
            n_features=5,
            make=lambda: DeepMLP([5, 5, 5, 5, 5, 5], "gelu"),
            task=lambda model, x: x**2,
            signed=True,
            rank=2,
            paper_loss=0.32,
        ),
        ToySpec(
            "squares-elu",
            "X -> X^2 elementwise, 5 -> 4 hidden ELU layers of 5 -> 5, ELU on the output too "
            "(the authors' code), signed inputs",
            n_features=5,
            make=lambda: DeepMLP([5, 5, 5, 5, 5, 5], "elu", activate_output=True),
            task=lambda model, x: x**2,
            signed=True,
            rank=2,
            paper_loss=0.32,
        ),
        ToySpec(
            "squares-relu",
            "X -> X^2 elementwise, 5 -> 10 (ReLU) -> 5, signed inputs, empty inputs kept",
            n_features=5,
            make=lambda: DeepMLP([5, 10, 5], "relu"),
            task=lambda model, x: x**2,
            signed=True,
            nonzero_only=False,
            rank=2,
            paper_loss=0.32,
        ),
    )
}


def get_toy(name: str) -> ToySpec:
    if name not in TOYS:
        raise UsageError(f"unknown toy {name!r}: expected one of {', '.join(TOYS)}")
    return TOYS[name]


def decomposition_module(spec: ToySpec, model: nn.Module) -> nn.Module:
    """The module whose parameters L3D decomposes (``tms``: an untied copy)."""
    return spec.decomposed(model).eval().requires_grad_(False)

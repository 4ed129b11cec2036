"""The paper's toy models, each with its sparse-feature data and a seeded trainer.

- ``tms``: toy model of superposition, 5 features -> 2 -> 5, ``relu(W^T W x + b)``.
- ``circuit-superposition``: X -> AX with a fixed random A, 10 -> 5 (ReLU) -> 10, no biases.
- ``squares``: X -> X^2 elementwise, 5 -> 10 (ReLU) -> 5, signed inputs.

Inputs: each feature is active independently with probability ``feature_probability``, with a
value uniform in ``[0, 1]`` (``[-1, 1]`` for ``squares``). Each spec also carries the paper's
decomposition settings (number of subnetworks, rank, top-k) and its reported reconstruction loss.

Choices the paper's summary leaves open, made here and measured (results/l3d/README.md):
``circuit-superposition`` has no biases, so one feature's gradient is rank-1 in each weight
(with biases every hidden unit is active for every sample and the gradients stop being
feature-specific), and features are active with probability 0.01: the part of a gradient that
pairs the sample's feature with the *reference's* features fits no single subnetwork, and it
sets the floor of the loss (22% at p=0.05, 15% at 0.02, 8% at 0.01, seed 0).

Example:
    >>> toy = TOYS["tms"]
    >>> model = toy.build(seed=0)
    >>> x = toy.sample(torch.Generator().manual_seed(0), 4)
    >>> model(x).shape
    torch.Size([4, 5])
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn
from tqdm.auto import tqdm

from mechcirc.errors import UsageError

log = logging.getLogger(__name__)


class TMS(nn.Module):
    """Toy model of superposition: ``relu(W^T W x + b)`` with ``W [d_hidden, n_features]``."""

    def __init__(self, n_features: int = 5, d_hidden: int = 2):
        super().__init__()
        self.W = nn.Parameter(nn.init.xavier_normal_(torch.empty(d_hidden, n_features)))
        self.b = nn.Parameter(torch.zeros(n_features))

    def forward(self, x: Float[Tensor, "batch n_features"]) -> Float[Tensor, "batch n_features"]:
        return torch.relu(x @ self.W.T @ self.W + self.b)


class MLP(nn.Module):
    """``W2 relu(W1 x + b1) + b2`` (biases optional); may store a target map ``A`` as a buffer."""

    def __init__(
        self, d_in: int, d_hidden: int, d_out: int, bias: bool = True, A: Tensor | None = None
    ):
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(d_hidden, d_in) / d_in**0.5)
        self.b1 = nn.Parameter(torch.zeros(d_hidden)) if bias else None
        self.W2 = nn.Parameter(torch.randn(d_out, d_hidden) / d_hidden**0.5)
        self.b2 = nn.Parameter(torch.zeros(d_out)) if bias else None
        if A is not None:
            self.register_buffer("A", A)

    def forward(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_out"]:
        hidden = x @ self.W1.T + (self.b1 if self.b1 is not None else 0.0)
        out = torch.relu(hidden) @ self.W2.T
        return out + self.b2 if self.b2 is not None else out


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
    n_subnetworks: int = 5
    rank: int = 1
    topk: float = 0.1
    paper_loss: float | None = None  # the paper's draft reconstruction loss

    def build(self, seed: int = 0) -> nn.Module:
        """The model initialised from ``seed``; the caller's global RNG state is left untouched."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.make()

    def sample(self, generator: torch.Generator, n: int) -> Float[Tensor, "n n_features"]:
        active = torch.rand(n, self.n_features, generator=generator) < self.feature_probability
        values = torch.rand(n, self.n_features, generator=generator)
        if self.signed:
            values = 2 * values - 1
        return active * values


def _circuit_map(n: int, d_hidden: int, per_feature: int = 2) -> Tensor:
    """``A = B H``: each feature's circuit uses ``per_feature`` of the ``d_hidden`` neurons
    (``H >= 0``), so a ReLU layer that narrow can implement A; circuits share neurons.

    Draws from the global generator: call it only inside :meth:`ToySpec.build`, whose seeded
    ``fork_rng`` makes the draws reproducible and restores the caller's RNG state afterwards."""
    H = torch.zeros(d_hidden, n)
    for i in range(n):
        H[torch.randperm(d_hidden)[:per_feature], i] = 0.5 + torch.rand(per_feature)
    return torch.randn(n, d_hidden) / d_hidden**0.5 @ H


TOYS: dict[str, ToySpec] = {
    spec.name: spec
    for spec in (
        ToySpec(
            "tms",
            "toy model of superposition, 5 features -> 2 -> 5",
            n_features=5,
            make=lambda: TMS(5, 2),
            task=lambda model, x: x,
            n_subnetworks=5,
            rank=1,
            paper_loss=0.19,
        ),
        ToySpec(
            "circuit-superposition",
            "circuit superposition X -> AX, 10 -> 5 -> 10, no biases, A = B H (2 neurons/feature)",
            n_features=10,
            make=lambda: MLP(10, 5, 10, bias=False, A=_circuit_map(10, 5)),
            task=lambda model, x: x @ model.A.T,
            feature_probability=0.01,
            n_subnetworks=10,
            rank=1,
            topk=0.02,
            paper_loss=0.064,
        ),
        ToySpec(
            "squares",
            "X -> X^2 elementwise, 5 -> 10 -> 5, signed inputs",
            n_features=5,
            make=lambda: MLP(5, 10, 5),
            task=lambda model, x: x**2,
            signed=True,
            n_subnetworks=5,
            rank=2,
            paper_loss=0.32,
        ),
    )
}


def get_toy(name: str) -> ToySpec:
    if name not in TOYS:
        raise UsageError(f"unknown toy {name!r}: expected one of {', '.join(TOYS)}")
    return TOYS[name]


def train_toy(
    spec: ToySpec,
    seed: int = 0,
    steps: int = 5000,
    batch_size: int = 1024,
    lr: float = 1e-2,
    progress: bool = False,
) -> nn.Module:
    """Build ``spec``'s model with ``seed`` and train it on its task (MSE, Adam, lr halved x3)."""
    model = spec.build(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, steps // 4), gamma=0.5)
    for _ in tqdm(range(steps), desc=f"train {spec.name}", disable=not progress):
        x = spec.sample(generator, batch_size)
        loss = ((model(x) - spec.task(model, x)) ** 2).sum(-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    log.info("trained toy %s: final batch loss %.5f", spec.name, loss.item())
    return model.eval().requires_grad_(False)

"""Node and edge layout of a circuit graph, in the EAP-IG naming grammar.

Sources, in forward order: ``input`` (token embedding), then per layer ``a{L}.h{H}`` (each
head's output) and ``m{L}`` (the MLP output). Destinations: per layer the query, key and value
inputs of each head, ``a{L}.h{H}<q>`` / ``<k>`` / ``<v>``, then ``m{L}``, and finally
``logits``. An edge ``src->dst`` exists when ``src`` is computed before ``dst`` reads the
residual stream; with parallel attention and MLP (Pythia, GPT-J) ``m{L}`` does not read
``a{L}``.

Grouped-query attention (Llama family): keys and values are computed once per KV head, so
k/v destinations are per KV head, ``a{L}.h{G}<k>`` with ``G`` in ``0..n_kv_heads-1``; patching
such an edge changes the keys (values) every query head of group ``G`` reads. Query
destinations stay per query head. With ``n_kv_heads == n_heads`` this is EAP-IG's layout.

Because sources are in forward order, the sources a destination can read are always a
prefix: ``scores[:layout.n_src_before(dst_kind, layer), dst]``.

Example:
    >>> layout = GraphLayout(n_layers=2, n_heads=2, n_kv_heads=2, parallel_attn_mlp=True)
    >>> layout.src_names[:4]
    ['input', 'a0.h0', 'a0.h1', 'm0']
    >>> layout.edge_name(layout.src_index("a0.h1"), layout.dst_index("a1.h0<k>"))
    'a0.h1->a1.h0<k>'
    >>> bool(layout.real_edges[layout.src_index("a0.h0"), layout.dst_index("m0")])
    False
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch
from jaxtyping import Bool
from torch import Tensor

from mechcirc.errors import UsageError

__all__ = ["DstKind", "GraphLayout", "cfg_int"]

DstKind = Literal["q", "k", "v", "mlp", "logits"]


@dataclass(frozen=True)
class GraphLayout:
    n_layers: int
    n_heads: int
    n_kv_heads: int
    parallel_attn_mlp: bool

    @classmethod
    def from_model(cls, model) -> GraphLayout:
        """The layout of a TransformerBridge (or anything with a TransformerLens ``cfg``)."""
        cfg = model.cfg
        return cls(
            n_layers=cfg.n_layers,
            n_heads=cfg.n_heads,
            n_kv_heads=cfg.n_key_value_heads or cfg.n_heads,
            parallel_attn_mlp=bool(cfg.parallel_attn_mlp),
        )

    # ---- sources -------------------------------------------------------------------------
    @property
    def _layer_width(self) -> int:
        return self.n_heads + 1

    def head_src(self, layer: int, head: int = 0) -> int:
        return 1 + layer * self._layer_width + head

    def attn_src(self, layer: int) -> slice:
        """Source indices of layer ``layer``'s heads."""
        start = self.head_src(layer)
        return slice(start, start + self.n_heads)

    def mlp_src(self, layer: int) -> int:
        return 1 + layer * self._layer_width + self.n_heads

    @property
    def n_src(self) -> int:
        return 1 + self.n_layers * self._layer_width

    @cached_property
    def src_names(self) -> list[str]:
        names = ["input"]
        for layer in range(self.n_layers):
            names += [f"a{layer}.h{h}" for h in range(self.n_heads)] + [f"m{layer}"]
        return names

    # ---- destinations --------------------------------------------------------------------
    @property
    def _dst_layer_width(self) -> int:
        return self.n_heads + 2 * self.n_kv_heads + 1

    def q_dst(self, layer: int) -> slice:
        start = layer * self._dst_layer_width
        return slice(start, start + self.n_heads)

    def k_dst(self, layer: int) -> slice:
        start = layer * self._dst_layer_width + self.n_heads
        return slice(start, start + self.n_kv_heads)

    def v_dst(self, layer: int) -> slice:
        start = layer * self._dst_layer_width + self.n_heads + self.n_kv_heads
        return slice(start, start + self.n_kv_heads)

    def qkv_dst(self, layer: int, kind: Literal["q", "k", "v"]) -> slice:
        return {"q": self.q_dst, "k": self.k_dst, "v": self.v_dst}[kind](layer)

    def mlp_dst(self, layer: int) -> int:
        return (layer + 1) * self._dst_layer_width - 1

    @property
    def logits_dst(self) -> int:
        return self.n_layers * self._dst_layer_width

    @property
    def n_dst(self) -> int:
        return self.logits_dst + 1

    @cached_property
    def dst_names(self) -> list[str]:
        names: list[str] = []
        for layer in range(self.n_layers):
            names += [f"a{layer}.h{h}<q>" for h in range(self.n_heads)]
            names += [f"a{layer}.h{g}<k>" for g in range(self.n_kv_heads)]
            names += [f"a{layer}.h{g}<v>" for g in range(self.n_kv_heads)]
            names.append(f"m{layer}")
        return [*names, "logits"]

    def n_src_before(self, kind: DstKind, layer: int | None = None) -> int:
        """How many sources (a prefix) the destination kind at ``layer`` reads."""
        if kind == "logits":
            return self.n_src
        if layer is None or not 0 <= layer < self.n_layers:
            raise UsageError(f"layer must be in 0..{self.n_layers - 1} for {kind}, got {layer}")
        before_layer = 1 + layer * self._layer_width
        if kind == "mlp" and not self.parallel_attn_mlp:
            return before_layer + self.n_heads
        return before_layer

    # ---- edges ---------------------------------------------------------------------------
    @cached_property
    def _src_lookup(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.src_names)}

    @cached_property
    def _dst_lookup(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.dst_names)}

    def src_index(self, name: str) -> int:
        if name not in self._src_lookup:
            raise UsageError(
                f"unknown source node {name!r}: expected input, a{{L}}.h{{H}} or m{{L}}"
                f" with L < {self.n_layers}, H < {self.n_heads}"
            )
        return self._src_lookup[name]

    def dst_index(self, name: str) -> int:
        if name not in self._dst_lookup:
            raise UsageError(
                f"unknown destination node {name!r}: expected a{{L}}.h{{H}}<q|k|v>, "
                f"m{{L}} or logits with L < {self.n_layers}"
            )
        return self._dst_lookup[name]

    def edge_name(self, src: int, dst: int) -> str:
        return f"{self.src_names[src]}->{self.dst_names[dst]}"

    def parse_edge(self, name: str) -> tuple[int, int]:
        """``"a0.h1->a2.h3<q>"`` -> (source index, destination index)."""
        src, sep, dst = name.partition("->")
        if not sep:
            raise UsageError(f"edge names look like 'a0.h1->a2.h3<q>', got {name!r}")
        return self.src_index(src), self.dst_index(dst)

    @cached_property
    def real_edges(self) -> Bool[Tensor, "n_src n_dst"]:
        """True where the source is upstream of the destination (every other entry is unused)."""
        mask = torch.zeros(self.n_src, self.n_dst, dtype=torch.bool)
        for layer in range(self.n_layers):
            n_attn = self.n_src_before("q", layer)
            for kind in ("q", "k", "v"):
                mask[:n_attn, self.qkv_dst(layer, kind)] = True
            mask[: self.n_src_before("mlp", layer), self.mlp_dst(layer)] = True
        mask[:, self.logits_dst] = True
        return mask

    @property
    def n_edges(self) -> int:
        return int(self.real_edges.sum())

    @classmethod
    def from_dict(cls, cfg: object) -> GraphLayout:
        """The layout :meth:`to_dict` (or an EAP-IG graph's ``cfg``) describes, or a
        UsageError naming the bad field; ``n_kv_heads`` defaults to ``n_heads``."""
        if not isinstance(cfg, dict):
            raise UsageError(f"graph 'cfg' must be an object, got {type(cfg).__name__}")
        n_layers = cfg_int(cfg, "n_layers", 1)
        n_heads = cfg_int(cfg, "n_heads", 1)
        n_kv_heads = cfg_int(cfg, "n_kv_heads", 1, default=n_heads)
        if n_heads % n_kv_heads:
            raise UsageError(
                f"graph cfg: n_heads ({n_heads}) must be a multiple of n_kv_heads ({n_kv_heads})"
            )
        parallel = cfg.get("parallel_attn_mlp")
        if not isinstance(parallel, bool):
            raise UsageError(f"graph cfg.parallel_attn_mlp must be true or false, got {parallel!r}")
        return cls(n_layers, n_heads, n_kv_heads, parallel)

    def to_dict(self) -> dict:
        return {
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "parallel_attn_mlp": self.parallel_attn_mlp,
        }


def cfg_int(cfg: dict, key: str, minimum: int, default: int | None = None) -> int:
    """``cfg[key]`` (or ``default``) as an integer >= ``minimum``, or a UsageError naming it."""
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"graph cfg.{key} must be an integer >= {minimum}, got {value!r}")
    return value

"""The hand-written q/k/v input gradient against autograd through a real norm."""

from __future__ import annotations

import pytest
import torch

from mechcirc.analyses.eap.model_parts import LayerParts, NormInfo, qkv_input_gradients


def _layer(w_qkv: torch.Tensor, norm: NormInfo) -> LayerParts:
    w_in = w_qkv * norm.weight[None, :, None]
    w_in = w_in.transpose(1, 2).contiguous()
    n_heads, d_head, d_model = 1, w_qkv.shape[2], w_qkv.shape[1]
    w_o = torch.zeros(n_heads, d_head, d_model)  # unused by the gradient under test
    return LayerParts(w_qkv, None, w_o, norm, w_in, w_in.sum(-1))


@pytest.mark.parametrize("rms", [False, True])
def test_qkv_input_gradients_match_autograd(rms):
    torch.manual_seed(0)
    batch, pos, d_model, n_qkv, d_head, eps = 2, 3, 16, 5, 4, 1e-5
    x = torch.randn(batch, pos, d_model, dtype=torch.float64) * 3 + 1
    weight = torch.randn(d_model, dtype=torch.float64)
    w_qkv = torch.randn(n_qkv, d_model, d_head, dtype=torch.float64)
    grad_heads = torch.randn(batch, pos, n_qkv, d_head, dtype=torch.float64)
    centred = x if rms else x - x.mean(-1, keepdim=True)
    scale = (centred.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    normalized = centred / scale

    expected = []
    for head in range(n_qkv):
        leaf = x.clone().requires_grad_(True)
        c = leaf if rms else leaf - leaf.mean(-1, keepdim=True)
        out = c / (c.pow(2).mean(-1, keepdim=True) + eps).sqrt() * weight
        (out @ w_qkv[head] * grad_heads[:, :, head]).sum().backward()
        expected.append(leaf.grad.reshape(-1, d_model))

    layer = _layer(w_qkv.float(), NormInfo(rms=rms, weight=weight.float()))
    grad, mean = qkv_input_gradients(grad_heads, normalized, scale, layer)
    if rms:
        assert mean is None
    else:
        grad = grad - mean[..., None]
    torch.testing.assert_close(grad.double(), torch.stack(expected), atol=1e-4, rtol=1e-4)

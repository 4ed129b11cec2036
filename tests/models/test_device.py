"""Device and dtype resolution."""

import pytest
import torch

from mechcirc.errors import UsageError
from mechcirc.models.device import resolve_device, resolve_dtype


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected


def test_explicit_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


def test_bad_device_names_allowed_values():
    with pytest.raises(UsageError, match="auto, cpu, cuda"):
        resolve_device("tpu9")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(UsageError, match="CUDA is not available"):
        resolve_device("cuda")


def test_dtypes():
    assert resolve_dtype(None) is torch.float32
    assert resolve_dtype("bfloat16") is torch.bfloat16
    assert resolve_dtype(torch.float16) is torch.float16
    with pytest.raises(UsageError, match="float32, bfloat16, float16"):
        resolve_dtype("float8")

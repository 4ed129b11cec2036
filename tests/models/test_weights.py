"""Reading safetensors files straight into existing tensors, checked against the safetensors
library, and the refusal of files that are not what they claim."""

import struct

import pytest
import torch
from safetensors.torch import load_file, save_file

from mechcirc.errors import ModelLoadError
from mechcirc.models.weights import (
    folder_weight_format,
    read_header,
    read_safetensors_into,
    safetensors_files,
)


@pytest.fixture
def checkpoint(tmp_path):
    generator = torch.Generator().manual_seed(0)
    tensors = {
        "a.weight": torch.randn(5, 3, generator=generator),
        "a.bias": torch.randn(5, generator=generator).to(torch.bfloat16),
        "steps": torch.tensor(7),
        "empty": torch.zeros(0, 4),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, path)
    return path


def test_header_names_dtypes_shapes_and_byte_ranges(checkpoint):
    header = read_header(checkpoint)
    assert set(header) == {"a.weight", "a.bias", "steps", "empty"}
    assert header["a.weight"].dtype == torch.float32 and header["a.weight"].shape == (5, 3)
    bias = header["a.bias"]
    assert bias.dtype == torch.bfloat16 and bias.end - bias.start == 5 * 2
    data = checkpoint.read_bytes()
    entry = header["a.weight"]
    expected = load_file(checkpoint)["a.weight"]
    assert data[entry.start : entry.end] == expected.numpy().tobytes()


def test_read_into_matching_casting_and_strided_targets(checkpoint):
    expected = load_file(checkpoint)
    targets = {
        "a.weight": torch.empty(3, 5).T,  # not contiguous: read through a buffer
        "a.bias": torch.empty(5, dtype=torch.float32),  # another dtype: cast
        "steps": torch.empty((), dtype=torch.int64),
        "empty": torch.empty(0, 4),
    }
    storage = targets["a.weight"].data_ptr()
    read_safetensors_into(checkpoint, targets)
    assert targets["a.weight"].data_ptr() == storage  # written where it was
    assert torch.equal(targets["a.weight"], expected["a.weight"])
    assert torch.equal(targets["a.bias"], expected["a.bias"].float())
    assert targets["steps"].item() == 7


def test_other_tensors_or_shapes_are_refused(checkpoint):
    with pytest.raises(ModelLoadError, match=r"missing \['extra'\], unexpected \['steps'\]"):
        read_safetensors_into(
            checkpoint,
            {"a.weight": torch.empty(5, 3), "a.bias": torch.empty(5), "empty": torch.empty(0, 4)}
            | {"extra": torch.empty(1)},
        )
    with pytest.raises(ModelLoadError, match=r"'a.weight' has shape \(5, 3\)"):
        targets = {"a.weight": torch.empty(3, 5), "a.bias": torch.empty(5)}
        read_safetensors_into(
            checkpoint, targets | {"steps": torch.empty(()), "empty": torch.empty(0, 4)}
        )


def test_broken_files_are_refused(checkpoint, tmp_path):
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(checkpoint.read_bytes()[:-8])
    with pytest.raises(ModelLoadError, match="bad offsets"):
        read_header(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(struct.pack("<Q", 5) + b"{nope")
    with pytest.raises(ModelLoadError, match="unreadable safetensors header"):
        read_header(garbage)
    huge = tmp_path / "huge.safetensors"
    huge.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(ModelLoadError, match="not a safetensors file"):
        read_header(huge)


def test_weight_files_of_a_folder(tmp_path, checkpoint):
    assert folder_weight_format(tmp_path) == "safetensors"
    assert safetensors_files(tmp_path) == [checkpoint]
    bins = tmp_path / "bins"
    bins.mkdir()
    (bins / "pytorch_model.bin").write_bytes(b"")
    assert folder_weight_format(bins) == "bin"
    assert folder_weight_format(tmp_path / "nothing") is None
    with pytest.raises(ModelLoadError, match="holds no safetensors weights"):
        safetensors_files(bins)

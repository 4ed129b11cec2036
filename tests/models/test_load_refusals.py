"""Issue 12's loading items: pickled weights only on request, missing paths named as paths,
malformed revisions refused before any hub access; each through the library and the CLI
(exit code and one line)."""

import pytest
import torch

from mechcirc import load_model
from mechcirc.cli import main
from mechcirc.errors import UsageError
from mechcirc.models.names import check_revision_form
from mechcirc.models.spec import ModelSpec
from mechcirc.models.tiny import TinyShape, tiny_hf_model, tiny_tokenizer

IDS = torch.tensor([[312, 4519, 97, 2210]])


@pytest.fixture
def bin_folder(tmp_path):
    """A saved GPT-2 whose weights are only a pytorch_model.bin, and the model itself."""
    model = tiny_hf_model("gpt2", TinyShape(), seed=5)
    folder = tmp_path / "bin-model"
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    tiny_tokenizer("gpt2").save_pretrained(folder)
    return folder, model


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_bin_only_folder_is_refused_unless_allowed(bin_folder):
    folder, raw = bin_folder
    with pytest.raises(UsageError, match="only pytorch_model.bin .* --allow-bin"):
        load_model(folder, device="cpu")
    model = load_model(folder, device="cpu", processing="none", allow_bin=True)
    with torch.no_grad():
        torch.testing.assert_close(model(IDS), raw(IDS).logits, rtol=0, atol=1e-5)


def test_bin_only_hub_revision_is_refused(perturbed_hub):
    with pytest.raises(UsageError, match=r"mechcirc-test/neox@bin-only has only pytorch_model.bin"):
        load_model("mechcirc-test/neox", revision="bin-only", device="cpu")
    model = load_model("mechcirc-test/neox", revision="bin-only", device="cpu", allow_bin=True)
    assert model.mechcirc_layout is None  # no safetensors: a later switch loads afresh


def test_cli_allow_bin(bin_folder, capsys):
    folder, _ = bin_folder
    assert main(["models", "info", str(folder)]) == 2
    assert "--allow-bin" in _one_line_error(capsys)
    assert main(["models", "info", str(folder), "--allow-bin"]) == 0


@pytest.mark.parametrize("path", ["./no-such-model", "/no/such/model", "~/no-such-model", "a/b/c"])
def test_missing_local_path_is_named_as_a_path(path, capsys):
    with pytest.raises(UsageError, match="no such folder or file"):
        load_model(path)
    assert main(["models", "info", path]) == 2
    assert "no such folder or file" in _one_line_error(capsys)


def test_a_weights_file_is_not_a_model_folder(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(UsageError, match="is a file: load a model folder"):
        load_model(tmp_path / "model.safetensors")


@pytest.mark.parametrize("revision", ["step-5", "stepabc", "-5", "step", "STEP1x"])
def test_malformed_revisions_exit_2_before_any_hub_access(revision, tmp_path, monkeypatch, capsys):
    def no_hub(*args, **kwargs):
        raise AssertionError("the hub was consulted")

    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", no_hub)
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", no_hub)
    assert main(["models", "info", "pythia-160m", "--revision", revision]) == 2
    assert "stepN or N with N a whole number >= 0" in _one_line_error(capsys)
    out = tmp_path / "run"
    assert main(["eap", "--model", "pythia-160m", "--revision", revision, "--out", str(out)]) == 2
    assert "invalid revision" in _one_line_error(capsys)
    assert not out.exists()
    with pytest.raises(UsageError):
        ModelSpec("pythia-160m", revision=revision)


def test_build_offline_refuses_a_malformed_revision(tmp_path, capsys):
    assert main(["models", "build-offline", "--home", str(tmp_path), "--revisions", "step-5"]) == 2
    assert "invalid revision 'step-5'" in _one_line_error(capsys)
    assert not (tmp_path / "hub").exists()


def test_revision_forms():
    assert check_revision_form(" step1000 ") == "step1000"
    assert check_revision_form(0) == "0"
    assert check_revision_form("main") == "main"
    assert check_revision_form("a" * 40) == "a" * 40
    for bad in (-1, True, 1.5, ""):
        with pytest.raises(UsageError):
            check_revision_form(bad)


def test_model_spec_records_allow_bin():
    spec = ModelSpec("gpt2", allow_bin=True)
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    assert ModelSpec.from_dict({"name": "gpt2"}).allow_bin is False  # older manifests

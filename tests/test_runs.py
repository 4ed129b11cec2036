"""Run folders record what a result depends on, store tensors as safetensors, stay inside."""

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from mechcirc.errors import UsageError
from mechcirc.runs import RunFolder, default_run_dir


def test_manifest_records_config_seed_versions_model_and_outputs(tmp_path):
    run = RunFolder.create(
        tmp_path / "r",
        command="demo",
        config={"n": 3, "path": tmp_path},
        seed=7,
        model={"model_id": "m", "revision": "step1"},
        argv=["x"],
    )
    started = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert started["status"] == "running" and started["seed"] == 7
    run.save_tensors("t.safetensors", {"scores": torch.arange(6.0).reshape(2, 3)})
    run.save_table("table.parquet", pd.DataFrame({"a": [1, 2]}))
    run.finish(metrics={"faithfulness": torch.tensor(0.5)})
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert manifest["config"] == {"n": 3, "path": str(tmp_path)}
    assert manifest["model"] == {"model_id": "m", "revision": "step1"}
    assert manifest["argv"] == ["x"] and manifest["status"] == "ok"
    assert {"python", "torch", "transformer-lens", "transformers"} <= set(manifest["versions"])
    assert manifest["metrics"] == {"faithfulness": 0.5} and manifest["timings"]["total_s"] >= 0
    assert manifest["outputs"] == ["t.safetensors", "table.parquet"]
    assert torch.equal(
        load_file(tmp_path / "r" / "t.safetensors")["scores"], torch.arange(6.0).reshape(2, 3)
    )


@pytest.mark.parametrize("name", ["/etc/x.json", "../x.json", "a/../../x.json"])
def test_outputs_stay_inside_the_run(tmp_path, name):
    run = RunFolder.create(tmp_path / "r", command="demo", config={})
    with pytest.raises(UsageError, match="relative to the run folder"):
        run.file(name)


def test_default_run_dirs_are_readable_and_unique(tmp_path):
    first = default_run_dir("eap", "pythia-160m", "ioi", None, root=tmp_path)
    first.mkdir()
    second = default_run_dir("eap", "pythia-160m", "ioi", None, root=tmp_path)
    assert first.name.startswith("eap-pythia-160m-ioi-") and second != first

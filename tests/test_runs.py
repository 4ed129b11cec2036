"""Run folders record what a result depends on, store tensors as safetensors, stay inside."""

import json
import os
import socket
import subprocess
import sys

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from mechcirc.errors import MechcircError, UsageError
from mechcirc.runs import (
    RunFolder,
    RunStatus,
    default_run_dir,
    prepare_out_dir,
    read_manifest,
    run_status,
)


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
    assert manifest["argv"] == ["x"] and manifest["status"] == "done"
    assert manifest["process"]["pid"] > 0 and manifest["finished_at"]
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


def test_context_manager_marks_done_failed_and_interrupted(tmp_path):
    with RunFolder.create(tmp_path / "ok", command="demo", config={}) as run:
        run.save_json("a.json", {"x": 1})
    assert run_status(tmp_path / "ok").status == "done"

    with pytest.raises(RuntimeError), RunFolder.create(tmp_path / "bad", command="demo", config={}):
        raise RuntimeError("the GPU caught fire\nsecond line")
    manifest = read_manifest(tmp_path / "bad")
    assert manifest["status"] == "failed"
    assert manifest["error"] == {"type": "RuntimeError", "message": "the GPU caught fire"}
    assert run_status(tmp_path / "bad").error == "the GPU caught fire"

    with (
        pytest.raises(KeyboardInterrupt),
        RunFolder.create(tmp_path / "int", command="d", config={}),
    ):
        raise KeyboardInterrupt
    assert read_manifest(tmp_path / "int")["status"] == "interrupted"


def test_done_is_refused_when_a_listed_output_was_never_written(tmp_path):
    run = RunFolder.create(tmp_path / "r", command="demo", config={})
    run.file("promised.json")
    with pytest.raises(MechcircError, match="never written: promised.json"):
        run.finish()
    assert read_manifest(tmp_path / "r")["status"] == "running"


def test_non_empty_folders_are_refused_cleared_or_resumed(tmp_path):
    out = tmp_path / "r"
    with RunFolder.create(out, command="demo", config={"n": 1}) as run:
        run.save_json("old.json", {})
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(UsageError, match="already holds files.*--overwrite"):
        RunFolder.create(out, command="demo", config={"n": 2})
    assert (out / "manifest.json").read_bytes() == before  # a refused run changes nothing
    with pytest.raises(UsageError, match="holds a 'demo' run, not 'other'"):
        RunFolder.create(out, command="other", config={}, resume=True)
    resumed = RunFolder.create(out, command="demo", config={"n": 1}, resume=True)
    assert resumed.manifest["outputs"] == ["old.json"] and resumed.status == "running"
    assert resumed.manifest["resumed_from"]["status"] == "done"
    fresh = RunFolder.create(out, command="demo", config={"n": 2}, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]
    assert fresh.manifest["outputs"] == []


def test_bad_out_paths_are_usage_errors(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        prepare_out_dir(file)
    with pytest.raises(UsageError, match="cannot be created"):
        prepare_out_dir(file / "sub")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root may write anywhere
            with pytest.raises(UsageError, match="not writable"):
                prepare_out_dir(locked / "run")
    finally:
        locked.chmod(0o700)


def test_a_dead_running_run_is_told_from_a_live_one(tmp_path):
    live = RunFolder.create(tmp_path / "live", command="demo", config={})
    assert run_status(live.path) == RunStatus("running", alive=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        manifest = read_manifest(live.path)
        manifest["process"] = {"pid": child.pid, "host": socket.gethostname(), "started": None}
        (live.path / "manifest.json").write_text(json.dumps(manifest))
        assert not run_status(live.path).dead
    finally:
        child.kill()
        child.wait()
    assert run_status(live.path).dead
    manifest["process"]["host"] = "another-machine"
    (live.path / "manifest.json").write_text(json.dumps(manifest))
    assert run_status(live.path) == RunStatus("running", alive=None)
    assert run_status(tmp_path / "nothing").status == "missing"


def test_tensors_are_byte_reproducible(tmp_path):
    tensors = {"b": torch.ones(2), "a": torch.zeros(3)}
    paths = []
    for name, order in (("one", tensors), ("two", dict(reversed(list(tensors.items()))))):
        run = RunFolder.create(tmp_path / name, command="demo", config={})
        paths.append(run.save_tensors("t.safetensors", order, metadata={"y": "1", "x": "2"}))
    assert paths[0].read_bytes() == paths[1].read_bytes()

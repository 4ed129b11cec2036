"""The same small sweep on every engine (local in-process, local worker processes, a real local
Ray, submitit's local executor) gives identical tables; engines are interchangeable mid-sweep."""

from __future__ import annotations

import shutil

import pytest

from mechcirc.sweep import SweepOptions, read_tables, run_sweep

from .conftest import small_plan

pytestmark = pytest.mark.slow

ENGINES = {
    "workers": SweepOptions(workers=2, threads=1),
    "ray": SweepOptions(executor="ray", threads=1),
    "slurm": SweepOptions(executor="slurm", slurm_cluster="local", threads=1),
}


def plan():
    return small_plan(revisions="step0,step143000", tasks=("ioi", "greater-than"))


@pytest.fixture(scope="module")
def reference(sweep_hub, tmp_path_factory):
    out = tmp_path_factory.mktemp("engines") / "local"
    result = run_sweep(plan(), out, SweepOptions(threads=1), progress=False)
    assert result.status["done"] == 2 and result.ran == 2
    return read_tables(out), out


def assert_same_tables(out, expected):
    found = read_tables(out)
    assert set(found) == set(expected)
    for name, frame in expected.items():
        assert found[name].equals(frame), name
        assert (out / f"{name}.parquet").read_bytes() == (
            expected_dir(out) / f"{name}.parquet"
        ).read_bytes()


def expected_dir(out):
    return out.parent / "local"


@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_engine_gives_identical_tables(reference, engine):
    expected, local = reference
    out = local.parent / engine
    result = run_sweep(plan(), out, ENGINES[engine], progress=False)
    assert result.status == {"done": 2, "failed": 0, "pending": 0, "running": 0}
    assert result.ran == 2
    assert_same_tables(out, expected)


def test_a_sweep_started_locally_is_finished_on_ray(reference):
    expected, local = reference
    out = local.parent / "mixed"
    shutil.copytree(local, out)  # a finished local sweep ...
    shutil.rmtree(out / "units" / "pythia-70m" / "step143000")  # ... less its last unit
    second = run_sweep(plan(), out, ENGINES["ray"], progress=False)
    assert second.ran == 1 and second.status["done"] == 2
    assert_same_tables(out, expected)

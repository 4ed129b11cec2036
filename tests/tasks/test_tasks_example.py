"""examples/tasks_prompt_pairs.py runs in quick mode and its CSVs reload to the same ids."""

from __future__ import annotations

import pytest

from tests.examples.runner import example_main


@pytest.mark.slow
def test_tasks_example_quick(tmp_path, capsys):
    example_main("tasks_prompt_pairs.py")(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    names = ("ioi", "gendered-pronoun", "greater-than", "subject-verb-agreement")
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == sorted(f"{n}.csv" for n in names)
    assert out.count("reloads to identical ids: True") == 4
    # subject-verb agreement uses the paper's prob_diff, like greater-than
    assert out.count("mean logit_diff") == 2 and out.count("mean prob_diff") == 2

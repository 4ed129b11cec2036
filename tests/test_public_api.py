"""The curated API: every module lists ``__all__``; ``mechcirc.analyses`` resolves its verbs
on first use, and importing it loads no analysis."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.layering import modules


def test_every_module_lists_its_public_names():
    missing = [
        name
        for name, path in modules()
        if not any(
            isinstance(node, ast.Assign)
            and any(getattr(target, "id", None) == "__all__" for target in node.targets)
            for node in ast.parse(path.read_text()).body
        )
    ]
    assert not missing


def test_every_analysis_verb_resolves_to_what_its_package_exports():
    import importlib

    import mechcirc.analyses as analyses

    for name in analyses.__all__:
        owner = importlib.import_module(analyses._LAZY[name])
        assert getattr(analyses, name) is getattr(owner, name)
        assert name in owner.__all__
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        analyses.nope  # noqa: B018


@pytest.mark.slow
def test_importing_the_analyses_package_loads_no_analysis():
    code = (
        "import sys, mechcirc.analyses; "
        "print(sorted(m for m in sys.modules if m.startswith('mechcirc.analyses.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

"""examples/eap_walkthrough.ipynb executes top to bottom (nbclient) and shows its results."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[3] / "examples" / "eap_walkthrough.ipynb"


@pytest.mark.slow
def test_eap_notebook_executes(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert "Pearson(eap-ig-inputs, exact)" in text and "normalized" in text
    svg = notebook.cells[-1].outputs[0]["data"]["image/svg+xml"]
    assert "<svg" in svg

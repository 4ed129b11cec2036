"""Write the interactive report of an EAP run folder from Python, and read what it holds.

An EAP run on a tiny random GPT-NeoX (the Pythia architecture) goes into a run folder, exactly
as ``mechcirc eap --out DIR --no-report`` writes it; then ``write_run_report`` turns the folder
into one offline HTML page (``mechcirc report DIR`` does the same from the shell, and
``write_sweep_report`` does it for a sweep folder).

    python examples/report_pages.py --out runs/report-example
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mechcirc.analyses.eap import EAPConfig, find_circuit
from mechcirc.models.tiny import tiny_model
from mechcirc.report import run_report_data, write_run_report
from mechcirc.runs import RunFolder
from mechcirc.tasks import load_pairs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/report-example")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # shared CPUs: more threads oversubscribe
    model = tiny_model("gpt-neox", n_layers=2)
    pairs = load_pairs("ioi", model.tokenizer, n=8, seed=0)
    config = EAPConfig(method="eap", selection="greedy", n_edges=40)
    with RunFolder.create(args.out, command="eap", config=config.to_dict(), overwrite=True) as run:
        find_circuit(model, pairs, config, run, progress=False)

    # The page: circuit drawing, top edges and nodes, faithfulness, example prompts.
    page = write_run_report(args.out, tokenizer=model.tokenizer)
    data = run_report_data(args.out)
    stored, in_circuit = len(data["selection"]["e"]), sum(data["selection"]["c"])
    print(f"report: {page} ({page.stat().st_size / 1e6:.1f} MB)")
    print(f"edges stored: {stored} of {data['n_edges_total']}; in the circuit: {in_circuit}")
    print(f"example prompts shown: {len(data['examples'])}")
    print(f"open it offline: {Path(page).resolve().as_uri()}")


if __name__ == "__main__":
    main()

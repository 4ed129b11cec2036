"""Run-folder reports beyond the generic outputs: the toys' ground truth and figures, and the
language models' subnetwork table.

Toys (:func:`write_toy_report`): the ground-truth metrics of :mod:`.toy_metrics` in the
manifest, ``subnetworks.png`` (each subnetwork's tensors), for toys whose output ``i`` answers
input ``i`` the paper's intervention figures (``interventions_scatter``: delta +-0.3;
``interventions_more_deltas``: +-0.1, 0.5, 1; for deep toys ``interventions_hidden_only``, the
hidden layers' part of each direction alone; ``interventions_two_subnetworks``: v0 and v1 moved
together), and for circuit superposition ``A_recovery`` (``a_hat`` against ``A``).

Texts (:func:`write_text_report`): ``subnetworks.md``, per subnetwork its ``P_act``, its top
samples with the context and the position highlighted (``⟦token⟧``: the prediction is the next
token after it), and each sample's most-affected logits.

Example:
    >>> write_toy_report(run, inputs, model, target, result)  # doctest: +SKIP
"""

from __future__ import annotations

from mechcirc.analyses.l3d.interventions import perturbed_outputs
from mechcirc.analyses.l3d.pipeline import Decomposition
from mechcirc.analyses.l3d.plots import plot_output_scatter, plot_scatter, plot_subnetworks
from mechcirc.analyses.l3d.toy_metrics import recovered_map, toy_summary
from mechcirc.analyses.l3d.toys import get_toy
from mechcirc.runs import RunFolder

__all__ = ["subnetwork_table", "write_text_report", "write_toy_report"]

SCATTER_DELTAS = (-0.3, 0.3)
MORE_DELTAS = (-1.0, -0.5, -0.1, 0.1, 0.5, 1.0)
N_SCATTER = 500


def _save(run: RunFolder, paths) -> None:
    for path in paths:
        run.file(path.name)


def _scatter(run, name, target, result, moves_by_panel, *, truth, only=None, title=""):
    inputs = result.inputs[:N_SCATTER]
    panels = {
        key: perturbed_outputs(target, result.subnetworks, moves, inputs, only=only)
        for key, moves in moves_by_panel.items()
    }
    _save(run, plot_output_scatter(inputs, panels, run.path / name, truth=truth, title=title))


def _hidden_layers(names: list[str]) -> str:
    """The parameters of every layer but the first and the last (``layers.<i>.*``)."""
    layers = sorted({int(name.split(".")[1]) for name in names if name.startswith("layers.")})
    return ",".join(f"layers.{i}.*" for i in layers[1:-1])


def _intervention_figures(run: RunFolder, spec, target, result: Decomposition) -> None:
    n = result.subnetworks.n_subnetworks
    truth = (lambda x: x**2) if spec.name.startswith("squares") else (lambda x: x)

    def single(deltas):
        return {(f"d={d:+g}", f"v{k}"): [(k, d)] for d in deltas for k in range(n)}

    _scatter(run, "interventions_scatter", target, result, single(SCATTER_DELTAS), truth=truth)
    _scatter(run, "interventions_more_deltas", target, result, single(MORE_DELTAS), truth=truth)
    hidden = _hidden_layers(result.subnetworks.names)
    if hidden:  # deep toys (squares, squares-elu)
        _scatter(
            run,
            "interventions_hidden_only",
            target,
            result,
            single(MORE_DELTAS),
            truth=truth,
            only=hidden,
            title="hidden layers' parts only",
        )
    if n >= 2:
        grid = {
            (f"v0 {a:+g}", f"v1 {b:+g}"): [(0, a), (1, b)] for a in MORE_DELTAS for b in MORE_DELTAS
        }
        _scatter(run, "interventions_two_subnetworks", target, result, grid, truth=truth)


def write_toy_report(run: RunFolder, inputs, model, target, result: Decomposition) -> dict:
    """Ground truth in the manifest's metrics and the toy's figures in ``run``."""
    spec = get_toy(inputs.toy)
    summary = toy_summary(spec, model, result.subnetworks, result.inputs, result.impact)
    summary["paper_reconstruction_loss"] = spec.paper_loss
    _save(
        run,
        plot_subnetworks(
            result.subnetworks,
            result.frequency,
            run.path / "subnetworks",
            title=f"{spec.name}: loss {result.loss:.3f}",
        ),
    )
    if spec.name.startswith(("tms", "squares")):
        _intervention_figures(run, spec, target, result)
    if "A_features" in summary:
        features, a_hat = recovered_map(result.subnetworks)
        truth = model.A[features]
        _save(
            run,
            plot_scatter(
                truth.flatten(),
                a_hat.flatten(),
                run.path / "A_recovery",
                xlabel="a",
                ylabel="a_hat",
                title=f"Pearson r {summary['A_r_pearson']:.3f}",
            ),
        )
    run.update(metrics=summary)
    return summary


def _highlighted(sample: dict) -> str:
    context = sample.get("context", "").replace("\n", " ").replace("|", "\\|")
    token = sample.get("token", "").replace("\n", "\\n").replace("|", "\\|")
    return f"{context[-120:]}⟦{token}⟧"


def subnetwork_table(result: Decomposition, n_samples: int = 5) -> str:
    """A Markdown table: subnetwork, ``P_act``, top samples (highlighted) and their top logits."""
    lines = ["| id (P_act) | sample (⟦position⟧) | most-affected next tokens |", "|---|---|---|"]
    for k, samples in result.top.items():
        label = f"**{k}** ({float(result.frequency[int(k)]):.3f})"
        for sample in samples[:n_samples]:
            logits = ", ".join(repr(e["token"]) for e in sample.get("top_logits", []))
            logits = logits.replace("|", "\\|")
            lines.append(f"| {label} | {_highlighted(sample)} | {logits} |")
            label = ""
    return "\n".join(lines) + "\n"


def write_text_report(run: RunFolder, result: Decomposition) -> None:
    """``subnetworks.md`` in ``run``."""
    run.file("subnetworks.md").write_text(subnetwork_table(result))

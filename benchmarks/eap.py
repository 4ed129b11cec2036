"""EAP / EAP-IG speed and memory against the bare transformers model doing the same passes.

Workload (issue 4): a randomly initialised Pythia-160m-shaped GPT-NeoX (12 layers, 12 heads,
d_model 768, vocab 50304), 32 prompt pairs x 16 tokens, one batch, ``torch.set_num_threads(1)``.

- ``eap-ig-inputs`` (m = 5) vs the bare model doing 5 forward+backward passes to the input
  embeddings (parameters frozen) plus 2 forwards, no hooks;
- ``eap`` vs the bare model doing 1 forward+backward plus 1 forward.

Wall times are measured in this one process, alternating the configurations over
``--repeats`` rounds (the machine is shared: compare the ratios, median of per-round ratios).
Peak RSS is measured per configuration in a fresh subprocess (``ru_maxrss``), model build
included, so the numbers do not mix; the subprocesses start before this process builds its
models, because a forked child's ``ru_maxrss`` starts from its parent's RSS. Prints the
figures and writes ``benchmarks/results/eap.json``.

Run: ``.venv/bin/python benchmarks/eap.py`` (``--quick`` for a 2-layer smoke run).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "eap.json"
CONFIGS = {
    # name: (mechcirc method or None for the bare model, gradient passes, plain forwards)
    "bare-ig": (None, 5, 2),
    "eap-ig-inputs": ("eap-ig-inputs", 5, 0),
    "bare-eap": (None, 1, 1),
    "eap": ("eap", 1, 0),
}
PAIRS = {"eap-ig-inputs": "bare-ig", "eap": "bare-eap"}


def pythia_160m_config(n_layers: int):
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=50304,
        hidden_size=768,
        num_hidden_layers=n_layers,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=2048,
        rotary_pct=0.25,
        use_parallel_residual=True,
        hidden_act="gelu",
        tie_word_embeddings=False,
    )


def build_hf(n_layers: int):
    from transformers import GPTNeoXForCausalLM

    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(pythia_160m_config(n_layers)).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def build_bridge(n_layers: int):
    from transformer_lens.model_bridge import TransformerBridge

    from mechcirc.models.tokenizers import pythia_tokenizer

    bridge = TransformerBridge.boot_transformers(
        "pythia-160m-shaped", hf_model=build_hf(n_layers), tokenizer=pythia_tokenizer()
    )
    bridge.enable_compatibility_mode(disable_warnings=True, no_processing=True)
    return bridge.eval()


def workload(n_prompts: int = 32, n_tokens: int = 16):
    from mechcirc.tasks import PromptPairs

    gen = torch.Generator().manual_seed(0)
    clean = torch.randint(1000, 40000, (n_prompts, n_tokens), generator=gen)
    corrupted = clean.clone()
    corrupted[:, n_tokens // 2] = torch.randint(1000, 40000, (n_prompts,), generator=gen)
    return PromptPairs(
        clean=clean,
        corrupted=corrupted,
        attention_mask=torch.ones_like(clean),
        correct=torch.randint(1000, 40000, (n_prompts, 1), generator=gen),
        incorrect=torch.randint(1000, 40000, (n_prompts, 1), generator=gen),
    )


def bare_passes(hf, pairs, grad_passes: int, forwards: int) -> None:
    """What the attribution needs at minimum: plain forwards and input-gradient passes."""
    rows = torch.arange(len(pairs))
    with torch.no_grad():
        for tokens in (pairs.clean, pairs.corrupted)[:forwards]:
            hf(input_ids=tokens)
    embed = hf.get_input_embeddings()
    clean, corrupted = embed(pairs.clean), embed(pairs.corrupted)
    for k in range(grad_passes):
        alpha = 1.0 if grad_passes == 1 else k / grad_passes
        inputs = torch.lerp(corrupted, clean, alpha).requires_grad_(True)
        logits = hf(inputs_embeds=inputs).logits[rows, -1]
        metric = logits[rows, pairs.correct[:, 0]] - logits[rows, pairs.incorrect[:, 0]]
        metric.sum().backward()


def run_config(name: str, model, pairs) -> float:
    from mechcirc.analyses.eap import attribute

    method, grad_passes, forwards = CONFIGS[name]
    started = time.perf_counter()
    if method is None:
        bare_passes(model, pairs, grad_passes, forwards)
    else:
        attribute(model, pairs, method, ig_steps=grad_passes, batch_size=len(pairs), progress=False)
    return time.perf_counter() - started


def peak_rss_child(name: str, n_layers: int) -> None:
    """Subprocess entry: build what ``name`` needs, run it once, print peak RSS in GiB."""
    model = build_hf(n_layers) if CONFIGS[name][0] is None else build_bridge(n_layers)
    run_config(name, model, workload())
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_gib": peak_kib / 2**20}))


def peak_rss(name: str, n_layers: int) -> float:
    command = [sys.executable, __file__, "--rss-child", name, "--layers", str(n_layers)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])["peak_rss_gib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="2 layers, 1 repeat (smoke run)")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    if args.quick:
        args.layers, args.repeats = 2, 1
    if args.rss_child:
        peak_rss_child(args.rss_child, args.layers)
        return
    # Children first: a forked child's ru_maxrss starts from its parent's RSS at fork time.
    rss = {name: peak_rss(name, args.layers) for name in CONFIGS}
    pairs = workload()
    models = {"bare": build_hf(args.layers), "bridge": build_bridge(args.layers)}
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for round_ in range(args.repeats):
        for name, (method, _, _) in CONFIGS.items():
            seconds = run_config(name, models["bare" if method is None else "bridge"], pairs)
            times[name].append(seconds)
            print(f"round {round_ + 1}: {name:<14} {seconds:7.2f} s", flush=True)
    del models
    results = {
        "workload": {
            "model": f"random GPT-NeoX, Pythia-160m shape, {args.layers} layers",
            "prompts": len(pairs),
            "tokens": pairs.clean.shape[1],
            "ig_steps": 5,
            "threads": torch.get_num_threads(),
            "repeats": args.repeats,
        },
        "seconds": times,
        "peak_rss_gib": rss,
    }
    for ours, bare in PAIRS.items():
        ratios = [t / b for t, b in zip(times[ours], times[bare], strict=True)]
        results[f"ratio_{ours}_over_bare"] = statistics.median(ratios)
        results[f"ratios_{ours}_per_round"] = ratios
    print(json.dumps(results, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if not args.quick:  # a smoke run never replaces the recorded figures
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

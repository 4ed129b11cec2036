"""L3D over one attention block of a language model, every token position a sample (the paper's
mode), with each subnetwork's top samples and most-affected next tokens.

    python examples/l3d_transformer.py --quick --out /tmp/l3d-attn    # tiny random GPT-NeoX, ~1 min
    python examples/l3d_transformer.py --model path/to/model.gguf --text corpus.txt \\
        --params 'blocks.20.attn.*' --out runs/l3d-attn               # a real model

The command-line equivalent is ``mechcirc l3d --model M --params P --text FILE --out DIR``;
results/l3d/reproduce_smollm2.sh is the SmolLM2-135M run of the README.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mechcirc.analyses import l3d
from mechcirc.analyses.l3d.reports import subnetwork_table, write_text_report
from mechcirc.runs import RunFolder

STORY = (
    "Once upon a time there was a little fox. The fox found a red ball in the tall grass. "
    "She rolled the ball to her friend the rabbit, and they played until the sun went down. "
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model name or .gguf (default: a tiny random GPT-NeoX)")
    parser.add_argument("--text", help="plain-text file (default: a short built-in story)")
    parser.add_argument("--params", default="blocks.0.attn.*")
    parser.add_argument("--out", default="runs/l3d-attention")
    parser.add_argument("--quick", action="store_true", help="tiny budgets (smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    if args.model:
        import mechcirc

        model = mechcirc.load_model(args.model, device="cpu")
    else:
        from mechcirc.models.tiny import tiny_model

        model = tiny_model("gpt-neox", n_layers=2, seed=0)
    out = Path(args.out)
    text = Path(args.text) if args.text else out.with_name(out.name + "-story.txt")
    if not args.text:
        text.parent.mkdir(parents=True, exist_ok=True)
        text.write_text(STORY * 20)
    data = l3d.TokenData(source="text", path=str(text), n_texts=32, n_eval=4, seq_len=8)
    target = l3d.token_target(model, args.params, data)
    print(f"decomposing {target.group.n_params} parameters: {', '.join(target.group.names)}")
    config = l3d.L3DConfig(
        params=args.params, n_subnetworks=3 if args.quick else 8, topk=0.1, lr=0.01,
        steps=8 if args.quick else 200, batch_size=4, n_eval=4, n_references=1 if args.quick else 4,
        n_top=2 if args.quick else 5, deltas=(0.01, 0.1),
    )  # fmt: skip
    with RunFolder.create(
        out, command="l3d-example", config=config.to_dict(), overwrite=True
    ) as run:
        result = l3d.decompose(target, config, run, progress=not args.quick)
        write_text_report(run, result)
        run.finish()
    print(f"held-out samples: {result.impact.shape[0]}")
    print(f"held-out reconstruction loss: {result.loss:.4f}")
    print(f"dead subnetworks: {result.dead}/{config.n_subnetworks}")
    print(subnetwork_table(result, n_samples=2))
    print(f"wrote {run.path}")


if __name__ == "__main__":
    main()

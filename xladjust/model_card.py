"""Model cards (README.md with YAML metadata) for every model the scripts save or push.

The metadata is written by ``huggingface_hub.ModelCardData``, so the Hub parses it as it wrote it: ``language``,
``base_model`` (Hub ids only), ``tags``, ``datasets`` (Hub ids of the data used) and, for task models, a
``model-index`` with one result per evaluated set and metric (task type, dataset id, config and split, metric
type, name and value), read from ``all_results.json``, so that the Hub shows the zero-shot scores on the model page.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CardEvaluation:
    """The benchmark behind the metrics ``{results_prefix}_{suffix}`` of ``all_results.json``: one model-index
    entry per metric found there. ``metrics``: ``(suffix, metric type, metric name)``."""

    results_prefix: str  # e.g. "predict_es" or "eval_mlqa.es.en"
    task_type: str  # a Hub task id: text-classification, token-classification, question-answering
    task_name: str
    dataset_type: str  # the Hub id of the benchmark, e.g. facebook/xnli
    dataset_name: str
    dataset_config: str | None
    dataset_split: str | None
    metrics: tuple[tuple[str, str, str], ...]


@dataclass
class ModelCardInfo:
    title: str
    summary: str
    base_model: str
    languages: list[str]
    data: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)  # Hub ids for the ``datasets:`` metadata
    evaluations: list[CardEvaluation] = field(default_factory=list)
    model_name: str | None = None  # the model-index name (default: the title)


def _is_hub_id(name: str) -> bool:
    return not os.path.exists(name) and name.count("/") <= 1 and " " not in name


def eval_results(info: ModelCardInfo, results: dict[str, Any] | None) -> list[Any]:
    """``huggingface_hub.EvalResult`` for every metric of ``info.evaluations`` present in ``results``."""
    from huggingface_hub import EvalResult

    found = []
    for evaluation in info.evaluations:
        for suffix, metric_type, metric_name in evaluation.metrics:
            value = (results or {}).get(f"{evaluation.results_prefix}_{suffix}")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                found.append(
                    EvalResult(
                        task_type=evaluation.task_type,
                        task_name=evaluation.task_name,
                        dataset_type=evaluation.dataset_type,
                        dataset_name=evaluation.dataset_name,
                        dataset_config=evaluation.dataset_config,
                        dataset_split=evaluation.dataset_split,
                        metric_type=metric_type,
                        metric_name=metric_name,
                        metric_value=float(value),
                    )
                )
    return found


def render_model_card(info: ModelCardInfo, results: dict[str, Any] | None = None) -> str:
    """Markdown with front matter (see the module docstring), then the details and the results table."""
    from huggingface_hub import ModelCardData

    scores = eval_results(info, results)
    data = ModelCardData(
        language=list(dict.fromkeys(info.languages)),
        library_name="transformers",
        base_model=info.base_model if _is_hub_id(info.base_model) else None,
        tags=list(dict.fromkeys(["xladjust", *info.tags])),
        datasets=list(dict.fromkeys(info.datasets)) or None,
        model_name=(info.model_name or info.title) if scores else None,
        eval_results=scores or None,
    )
    meta = ["---", data.to_yaml(), "---"]
    body = [f"# {info.title}", "", info.summary, "", f"- Base model: `{info.base_model}`"]
    body += [f"- Data: {item}" for item in info.data]
    if info.settings:
        body += ["", "## Settings", "", "```json", json.dumps(info.settings, indent=2, sort_keys=True), "```"]
    if results:
        body += ["", "## Results", "", "| metric | value |", "| --- | --- |"]
        body += [
            f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |"
            for key, value in sorted(results.items())
        ]
    body += ["", "Made with xladjust (cross-lingual adjustment toolkit)."]
    return "\n".join(meta + [""] + body) + "\n"

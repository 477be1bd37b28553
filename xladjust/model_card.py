"""Model cards (README.md with YAML metadata) for every model the scripts save or push."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelCardInfo:
    title: str
    summary: str
    base_model: str
    languages: list[str]
    data: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


def _is_hub_id(name: str) -> bool:
    return not os.path.exists(name) and name.count("/") <= 1 and " " not in name


def render_model_card(info: ModelCardInfo, results: dict[str, Any] | None = None) -> str:
    """Markdown with front matter: ``language:`` tags, ``base_model`` (Hub ids only), tags, then the details."""
    meta = ["---", "library_name: transformers", "language:"]
    meta += [f"- {lang}" for lang in dict.fromkeys(info.languages)]
    if _is_hub_id(info.base_model):
        meta.append(f"base_model: {info.base_model}")
    meta.append("tags:")
    meta += [f"- {tag}" for tag in dict.fromkeys(["xladjust", *info.tags])]
    meta.append("---")
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

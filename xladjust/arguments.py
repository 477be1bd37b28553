"""The model options every script shares (parsed by ``HfArgumentParser``, also from a JSON file).

The other settings live beside the code that reads them: :mod:`xladjust.adjust.settings` (the objective),
:mod:`xladjust.data.parallel_arguments` (parallel data), the task modules and scripts (tasks, training).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="google-bert/bert-base-multilingual-cased",
        metadata={"help": "Encoder to start from: a Hub id or a local folder (e.g. one run_adjust.py wrote)."},
    )
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the model's own."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where to store models downloaded from the Hub."})
    model_revision: str = field(default="main", metadata={"help": "Branch, tag or commit of a Hub model."})
    token: str | None = field(default=None, metadata={"help": "Hub token (defaults to the cached login)."})

    def download_options(self) -> dict[str, str | None]:
        """``from_pretrained``'s options for any other model a run reads (a pair filter's, SimAlign's)."""
        return {"cache_dir": self.cache_dir, "token": self.token}

"""The arguments every task script shares, and how evaluation files are named on the command line.

:class:`TaskTrainingArguments` (each script subclasses it with the paper's learning rate and epochs) and
:class:`TaskDataArguments` (languages, local files, lengths, sample caps), parsed by ``HfArgumentParser``.

Evaluation files. ``--validation_files`` (read with ``--do_eval``) and ``--test_files`` (``--do_predict``) take
entries of two kinds:

- ``LANG=PATH``: the file of language LANG (which must be one of ``--eval_languages``);
- ``PATH``: the file of every other language, ``{lang}`` replaced by the language code
  (``data/dev.{lang}.jsonl``). Without ``{lang}``, one file serves several languages only when its rows name
  their language (the original XNLI tsv with its ``language`` column); otherwise that is an error.

A language without a file is read from the Hub (the script's dataset, split ``validation`` or ``test``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from transformers import TrainingArguments

from xladjust.data.languages import PAPER_LANGUAGES, check_language
from xladjust.errors import InputError

_LANGUAGE_CODE = re.compile(r"[A-Za-z][A-Za-z-]*")


@dataclass
class TaskTrainingArguments(TrainingArguments):
    """TrainingArguments of the task scripts: the paper's batch of 32; subclasses set the learning rate, epochs."""

    per_device_train_batch_size: int = field(default=32, metadata={"help": "Training examples per device and step."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Write into a non-empty --output_dir (transformers v5 dropped this flag)."}
    )


@dataclass
class TaskDataArguments:
    """Languages and data of a task script; subclasses name the benchmark and add task options."""

    eval_languages: list[str] = field(
        default_factory=lambda: ["en", *PAPER_LANGUAGES],
        metadata={"help": "Languages evaluated (zero-shot except English); the average leaves English out."},
    )
    train_file: str | None = field(default=None, metadata={"help": "Local English training file (default: Hub)."})
    validation_files: list[str] = field(
        default_factory=list,
        metadata={
            "help": "With --do_eval: `LANG=PATH` entries and/or one PATH for the other languages, where "
            "`{lang}` is replaced by the language code. Languages without a file: Hub."
        },
    )
    test_files: list[str] = field(
        default_factory=list, metadata={"help": "With --do_predict: like --validation_files, for the test split."}
    )
    max_seq_length: int = field(default=128, metadata={"help": "Subwords per example; longer inputs are truncated."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Train on the first N examples only."})
    shuffle_train_before_select: bool = field(
        default=False,
        metadata={
            "help": "With --max_train_samples: draw the N examples at random (seeded by --data_seed, else --seed) "
            "instead of taking the first N (a file sorted by label would give one label)."
        },
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate on the first N examples of every language and split only."}
    )
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenisation."})

    known_languages: ClassVar[Sequence[str]] = ()
    benchmark: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not self.eval_languages:
            raise InputError("--eval_languages needs at least one language")
        for language in self.eval_languages:
            self.check_eval_language(language)
        if len(set(self.eval_languages)) != len(self.eval_languages):
            raise InputError(f"--eval_languages lists a language twice: {' '.join(self.eval_languages)}")
        if self.max_seq_length < 8:
            raise InputError("--max_seq_length must be at least 8")
        for name in ("max_train_samples", "max_eval_samples"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"--{name} must be positive")
        self._files = {
            "eval": _parse_file_entries(self.validation_files, "--validation_files", self.eval_languages),
            "predict": _parse_file_entries(self.test_files, "--test_files", self.eval_languages),
        }

    def check_eval_language(self, language: str) -> None:
        """InputError unless the benchmark has ``language``; a task whose codes follow a pattern overrides it."""
        check_language(language, self.known_languages, self.benchmark)

    def eval_file(self, split: str, language: str) -> tuple[str | None, bool]:
        """``(path, shared)``: the local file of a language and split (None: Hub), and whether other languages
        read the same file (a default PATH without ``{lang}``)."""
        explicit, default = self._files[split]
        if language in explicit:
            return explicit[language], False
        if default is None:
            return None, False
        users = [lang for lang in self.eval_languages if lang not in explicit]
        return default.replace("{lang}", language), "{lang}" not in default and len(users) > 1


def _parse_file_entries(
    entries: Sequence[str], flag: str, languages: Sequence[str]
) -> tuple[dict[str, str], str | None]:
    """``({language: path}, default PATH or None)``; ``LANG=`` is recognised by a language-code-like LANG."""
    explicit: dict[str, str] = {}
    default = None
    for entry in entries:
        language, separator, path = entry.partition("=")
        if separator and _LANGUAGE_CODE.fullmatch(language):
            if language not in languages:
                raise InputError(f"{flag}: {language!r} is not one of --eval_languages ({' '.join(languages)})")
            if language in explicit or not path:
                raise InputError(f"{flag}: {entry!r} repeats a language or has no path")
            explicit[language] = path
        elif default is not None:
            raise InputError(f"{flag}: at most one PATH without `LANG=` (found {default!r} and {entry!r})")
        else:
            default = entry
    return explicit, default

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
from typing import Any, ClassVar

from transformers import TrainingArguments

from xladjust.data.languages import PAPER_LANGUAGES, check_language
from xladjust.errors import InputError

_LANGUAGE_CODE = re.compile(r"[A-Za-z][A-Za-z_-]*")  # es, zh-CN, and FLORES-200 codes such as ast_Latn
_AVERAGING = re.compile(r"(last_k|every):([1-9]\d*)")
SELECTION_SETS = ("english_dev",)


@dataclass
class TaskTrainingArguments(TrainingArguments):
    """TrainingArguments of the task scripts: the paper's batch of 32; subclasses set the learning rate, epochs.
    ``average_checkpoints`` and ``select_on`` choose the final model (:mod:`xladjust.tasks.final_model`)."""

    per_device_train_batch_size: int = field(default=32, metadata={"help": "Training examples per device and step."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Write into a non-empty --output_dir (transformers v5 dropped this flag)."}
    )
    average_checkpoints: str | None = field(
        default=None,
        metadata={
            "help": "The final model is an average of weights (Schmidt et al. 2023): last_k:K, of the last K saved "
            "checkpoints; every:N, of snapshots kept in memory every N steps and at the last one."
        },
    )
    select_on: str | None = field(
        default=None,
        metadata={
            "help": "english_dev: the final model is the candidate (checkpoint, snapshot, last weights, average) "
            "with the best score on the English validation set; no target-language data is read for it.",
            "choices": ["english_dev"],
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_final_model_options(self)

    def result_settings(self) -> tuple[str, ...]:
        """The fields besides ``TRAINING_SETTINGS`` that change the result (``run_folder.collect_settings``): the
        final-model options, and the save cadence when saved checkpoints are averaged or chosen from."""
        reads_checkpoints = self.select_on is not None or (self.average_checkpoints or "").startswith("last_k")
        saves = ("save_strategy", "save_steps", "save_total_limit") if reads_checkpoints else ()
        return ("average_checkpoints", "select_on", *saves)


@dataclass(frozen=True)
class Averaging:
    """``last_k:K`` (the last K saved checkpoints) or ``every:N`` (in-memory snapshots every N steps)."""

    kind: str
    count: int

    @classmethod
    def parse(cls, text: str | None) -> Averaging | None:
        if text is None:
            return None
        match = _AVERAGING.fullmatch(text.strip())
        if match is None:
            raise InputError(
                f"--average_checkpoints {text!r}: expected last_k:K (the last K saved checkpoints) or every:N "
                "(snapshots every N steps), with positive integers"
            )
        return cls(match[1], int(match[2]))

    def __str__(self) -> str:
        return f"{self.kind}:{self.count}"


def check_final_model_options(args: Any) -> None:
    """``--average_checkpoints`` and ``--select_on`` against the save settings of ``args`` (TrainingArguments)."""
    averaging = Averaging.parse(args.average_checkpoints)
    saves = str(getattr(args.save_strategy, "value", args.save_strategy)) != "no"
    if args.select_on is not None and args.select_on not in SELECTION_SETS:
        raise InputError(f"--select_on {args.select_on!r}: expected one of {list(SELECTION_SETS)}")
    if averaging is not None and averaging.kind == "last_k":
        if not saves:
            raise InputError(
                f"--average_checkpoints {averaging} averages saved checkpoints: set --save_strategy steps or epoch, "
                "or use every:N (snapshots kept in memory)"
            )
        if args.save_total_limit is not None and 0 < args.save_total_limit < averaging.count:
            raise InputError(
                f"--average_checkpoints {averaging} needs --save_total_limit of at least {averaging.count} "
                f"(got {args.save_total_limit})"
            )
    if args.select_on is not None and averaging is None and not saves:
        raise InputError(
            f"--select_on {args.select_on} has nothing to choose from: save checkpoints (--save_strategy steps or "
            "epoch) or average (--average_checkpoints)"
        )
    if args.load_best_model_at_end and (averaging is not None or args.select_on is not None):
        raise InputError("--load_best_model_at_end chooses the final model too: leave it out with these options")


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


def file_entry_language(entry: str) -> str | None:
    """The LANG of a ``LANG=PATH`` entry of ``--validation_files``/``--test_files``; None for a plain PATH."""
    language, separator, _ = entry.partition("=")
    return language if separator and _LANGUAGE_CODE.fullmatch(language) else None


def _parse_file_entries(
    entries: Sequence[str], flag: str, languages: Sequence[str]
) -> tuple[dict[str, str], str | None]:
    """``({language: path}, default PATH or None)``; ``LANG=`` is recognised by a language-code-like LANG."""
    explicit: dict[str, str] = {}
    default = None
    for entry in entries:
        language, path = file_entry_language(entry), entry.partition("=")[2]
        if language is not None:
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

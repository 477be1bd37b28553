"""The study config: a JSON file (see configs/paper.json) read into a tree of dataclasses, built and checked once.

:func:`load_config` reads the file, resolves ``extends`` (another config, its path relative to this one, that this
one changes: dictionaries are merged key by key, anything else is replaced; configs/data_size.json extends
paper.json), applies the ``--set PATH=JSON`` overrides, and only then builds :class:`StudyConfig`. Every key of the
file is a field below and is documented there (``doc`` in the field's metadata). A key that is not a field (a typo:
``adjsut``, ``tasks.ner.arg``) or a value of the wrong type is an :class:`~xladjust.errors.InputError` that names the
dotted key and the file, with the closest known key when there is one.

Adding a key is adding a field with its ``doc``: building, the unknown-key check and the ``--set`` check all follow
the dataclasses. Option maps (``args``, ``adjust_args``, ``continual_args``, ``common_args``) are free-form: their
keys are the scripts' command-line options (see :func:`xladjust.study.matrix.render_args`).
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Union

from xladjust.errors import InputError
from xladjust.study.overlap import check_overlaps

VARIANTS = ("original", "adjusted", "joint", "continual")
"""The built-in encoder variants (they need no ``variant_specs`` entry)."""
KINDS = ("original", "adjusted", "joint", "continual")
"""What a variant's runs start from and how: see :attr:`VariantSpec.kind`."""
DEFAULT_OUTPUT_DIR = "out/study"

_INTERNAL = "internal"  # metadata marking a field that is not a config key


def option(
    doc: str,
    default: Any = MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    choices: Sequence[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Any:
    """A config key: its documentation, its default (``factory`` for a list or dict; neither: required), the
    values it may take (``choices``) and other spellings read as one of them (``aliases``)."""
    metadata = {"doc": doc, "choices": tuple(choices), "aliases": dict(aliases or {})}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _internal(default: Any = None, *, init: bool = True) -> Any:
    """A field of the tree that is not a key of the file (the raw dict, the file's path, derived values)."""
    return field(default=default, init=init, repr=False, compare=False, metadata={_INTERNAL: True})


# ---------------------------------------------------------------------------------------------------------------
# The sections


@dataclass(frozen=True)
class VariantSpec:
    """An encoder variant of ``variant_specs``, beside the built-in ones."""

    kind: str = option(
        "original: the original encoder; adjusted: an encoder adjusted by run_adjust.py; joint: adjusted on all "
        "languages at once; continual: continual learning (alignment loss while fine-tuning)",
        choices=KINDS,
    )
    languages: str | None = option(
        "each: one encoder and one run per language; all: one over every language (default: each for adjusted, "
        "all for joint and continual)",
        None,
        choices=("each", "all"),
    )
    adjust_args: dict[str, Any] = option(
        "{run_adjust.py option: value} over adjust.args, for the variant's own adjustment "
        "(adjust/VARIANT/[LANG/]seed{n})",
        factory=dict,
    )
    continual_args: dict[str, Any] = option("{align_* option: value} over continual.args", factory=dict)
    task_args: dict[str, Any] = option(
        "{task-script option: value} over tasks.*.args, for this variant's task runs only, e.g. "
        '{"average_checkpoints": "every:500"} or {"select_on": "english_dev"}; a variant without adjust_args runs '
        "from the built-in encoder of its kind (original, or the adjustment it shares with adjusted / joint)",
        factory=dict,
    )
    start_from: str | None = option(
        "continual only: adjusted or original, as continual.start_from (its default)",
        None,
        choices=("adjusted", "original"),
        aliases={"joint": "adjusted"},
    )


@dataclass(frozen=True)
class TaskSpec:
    """One task of ``tasks`` (its name: xnli, ner, qa, ...): a fine-tuning run per variant, language group and
    seed."""

    script: str | None = option("the task's script (default run_NAME.py)", None)
    args: dict[str, Any] = option(
        "{flag: value}: the script's options besides model, evaluated languages, seed and output folder",
        factory=dict,
    )
    eval_flag: str = option("the flag that takes the evaluated languages or sets", "--eval_languages")
    eval_values: dict[str, list[str]] = option(
        "{lang: [...]}: what eval_flag gets for a language (default: the language), e.g. QA's xquad.es mlqa.es.es",
        factory=dict,
    )
    include_english: bool = option("evaluate English besides the run's languages", True)
    languages: list[str] | None = option(
        "the study languages the task's benchmark has (PAWS-X: es of es ru vi hi); the others get no runs of the task "
        "and are not evaluated (default: every study language)",
        None,
    )
    enabled: bool = option("false: no runs of this task", True)

    def covers(self, language: str) -> bool:
        """Whether the task runs and evaluates ``language``."""
        return self.languages is None or language in self.languages


@dataclass(frozen=True)
class ParallelConfig:
    """The parallel data of the adjustments and of continual learning: a Hub dataset, or local files."""

    dataset_name: str | None = option(
        "a Hub (or local) dataset of sentence pairs, e.g. sentence-transformers/parallel-sentences-wikimatrix "
        "(english/non_english columns) or Helsinki-NLP/opus-100 (a translation column)",
        None,
    )
    config_template: str | None = option(
        'the dataset\'s config of a language, e.g. "en-{lang}" (default: the two codes sorted, OPUS-style: ar-en, '
        "en-es)",
        None,
    )
    split: str | None = option("the dataset's split the adjustments read", None)
    columns: list[str] | None = option(
        '[ENGLISH, TARGET]: the dataset\'s two string columns, English first ("{lang}" is the language, e.g. '
        '["en", "{lang}"]), or [NAME] of a translation column (default: a "translation" column, else '
        'sentence-transformers\' ["english", "non_english"]); --parallel_columns / --align_parallel_columns',
        None,
    )
    files: dict[str, dict[str, Any]] = option(
        '{lang: {"text": PATH, "align": PATH or null}}: local parallel files, with their word alignments or null '
        "(aligned by run_adjust.py); files win over the dataset",
        factory=dict,
    )
    allow_overlap: list[str] = option(
        'evaluation overlaps to run anyway: "tatoeba" (Tatoeba XSR with parallel data named like Tatoeba), '
        '"flores" (SIB-200 or Belebele with parallel data named like FLORES); refused otherwise, and recorded in '
        "study_manifest.json (evaluation_overlaps) when allowed; see xladjust/study/overlap.py",
        factory=list,
    )


@dataclass(frozen=True)
class AdjustConfig:
    """The adjustments (run_adjust.py)."""

    args: dict[str, Any] = option(
        "{flag: value}: run_adjust.py options besides model, data, output and seed", factory=dict
    )
    seeds: list[int] | None = option(
        "adjust only with these seeds; task seeds not among them use the first (default: one adjustment per task "
        "seed)",
        None,
    )


@dataclass(frozen=True)
class ContinualConfig:
    """Continual learning: the alignment loss on parallel pairs while fine-tuning a task."""

    start_from: str = option(
        "adjusted: the encoder adjusted on the same pairs, i.e. the joint one for a run on all languages, the "
        'language\'s own for a per-language run; original: the original encoder ("joint" is read as "adjusted")',
        "adjusted",
        choices=("adjusted", "original"),
        aliases={"joint": "adjusted"},
    )
    args: dict[str, Any] = option("{align_* option: value} of the task scripts", factory=dict)


@dataclass(frozen=True)
class AnalysisConfig:
    """The analysis steps (run_analysis.py on each adjustment's held-out pairs)."""

    enabled: bool = option("false: no analysis steps", True)
    task_models: bool = option("add the task models fine-tuned from each encoder (original+TASK, adjusted+TASK)", True)
    args: dict[str, Any] = option("{flag: value}: run_analysis.py options", factory=dict)


@dataclass(frozen=True)
class XsrConfig:
    """Sentence retrieval per language and encoder variant (run_analysis.py)."""

    enabled: bool = option("false: no XSR steps", True)
    args: dict[str, Any] = option(
        '{run_analysis.py option: value}, e.g. {"retrieval_corpus": "tatoeba", "layers": [8, -1]}', factory=dict
    )


@dataclass(frozen=True)
class ReportConfig:
    """run_report.py, run at the end of reproduce.py."""

    enabled: bool = option("false: no report at the end", True)
    args: dict[str, Any] = option("{run_report.py option: value}", factory=dict)


@dataclass(frozen=True)
class Resources:
    """What one step of a kind asks for (``resources.KIND``; a key left out comes from ``resources.default``, then
    from the built-in defaults: 1 GPU, 1 node). The local backend reads ``gpus`` only; Slurm reads them all."""

    gpus: int | None = option(
        "GPUs per node of a step, and so its processes per node (one process per GPU; default 1); 0: CPU only. "
        "More than one multiplies the global batch (per_device_train_batch_size is per process)",
        None,
    )
    nodes: int | None = option(
        "Slurm only: machines per step (default 1); more than 1 starts one launcher per node with srun and a "
        "rendezvous on the first node",
        None,
    )
    cpus: int | None = option("Slurm: CPU cores per node (--cpus-per-task; default: the cluster's)", None)
    mem: str | None = option('Slurm: memory per node, e.g. "64G" (--mem; default: the cluster\'s)', None)
    time: str | None = option('Slurm: time limit, e.g. "4:00:00" (--time; default: the partition\'s)', None)
    partition: str | None = option("Slurm: partition (--partition; default: the cluster's)", None)
    gpu_type: str | None = option('Slurm: GPU type of --gres=gpu:TYPE:K, e.g. "a100" (default: any)', None)


RESOURCE_DEFAULTS = Resources(gpus=1, nodes=1)
"""What a step asks for when neither its kind nor ``resources.default`` says otherwise."""
SINGLE_PROCESS_KINDS = ("analysis", "xsr")
"""Step kinds whose script runs in one process (run_analysis.py): at most one GPU, one node."""


@dataclass(frozen=True)
class SlurmConfig:
    """What every job of the Slurm backend shares (reproduce.py --backend slurm; docs/cluster.md)."""

    account: str | None = option("--account of every job", None)
    qos: str | None = option("--qos of every job", None)
    constraint: str | None = option('--constraint of every job, e.g. "a100|h100"', None)
    sbatch: list[str] = option(
        'further #SBATCH options of every job, e.g. ["--mail-type=FAIL", "--exclude=node7"]', factory=list
    )
    setup: list[str] = option(
        'shell lines run before each step, e.g. ["module load cuda/12.4", "source ~/venvs/xla/bin/activate"]',
        factory=list,
    )
    signal_seconds: int = option(
        "seconds before the time limit at which a job is told to stop and requeue itself (--signal=B:USR1@N)", 300
    )
    gpu_option: str = option(
        "how GPUs are asked for: gres (--gres=gpu:[TYPE:]K) or gpus (--gpus-per-node=[TYPE:]K)",
        "gres",
        choices=("gres", "gpus"),
    )
    job_name: str = option("prefix of the job names (PREFIX-STEP)", "xla")


@dataclass(frozen=True)
class Variant:
    """One encoder variant of the matrix, resolved from the built-ins and ``variant_specs``."""

    name: str
    kind: str
    each_language: bool
    adjust_args: Mapping[str, Any] = field(default_factory=dict)
    continual_args: Mapping[str, Any] = field(default_factory=dict)
    start_from: str = "adjusted"
    task_args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def adjusts(self) -> bool:
        """Whether the variant's task runs start from an encoder run_adjust.py produced."""
        return self.kind in ("adjusted", "joint") or (self.kind == "continual" and self.start_from == "adjusted")

    @property
    def adjust_group(self) -> str:
        """The folder under adjust/ (and analysis/) of the adjustment this variant starts from: the built-in
        per_language / joint adjustments unless the variant has adjust_args of its own."""
        if self.name in ("adjusted", "joint") or not self.adjust_args:
            return "per_language" if self.each_language else "joint"
        return self.name

    @property
    def builtin_adjustment(self) -> bool:
        """Whether the variant starts from one of the built-in adjustments (shared with adjusted or joint)."""
        return self.adjust_group in ("per_language", "joint")

    @property
    def builtin_encoder(self) -> bool:
        """Whether a variant of ``variant_specs`` runs a built-in variant's encoder (the original one, or the built-in
        adjustment), its task runs differing only by ``task_args``: it has no analysis or XSR steps of its own."""
        shared = self.kind == "original" or (self.kind in ("adjusted", "joint") and self.builtin_adjustment)
        return self.name not in VARIANTS and shared


@dataclass(frozen=True)
class StudyConfig:
    """A study: languages × encoder variants × tasks × seeds, the analyses and the report."""

    model_name_or_path: str = option("the original encoder (Hub name or folder); the one key every config needs")
    output_dir: str = option("root of the study", DEFAULT_OUTPUT_DIR)
    launcher: list[str] = option(
        'command prefix, e.g. ["accelerate", "launch"]; [] or ["python"] runs the current Python',
        factory=lambda: ["accelerate", "launch"],
    )
    languages: list[str] = option(
        'target languages (English is the source), e.g. ["es", "ru", "vi", "hi"]',
        factory=lambda: ["es", "ru", "vi", "hi"],
    )
    seeds: list[int] = option("the seeds of every run, e.g. [1, 2, 3]", factory=lambda: [1, 2, 3])
    variants: list[str] = option(
        "names: the built-in original, adjusted, joint, continual, or any of variant_specs",
        factory=lambda: list(VARIANTS),
    )
    variant_specs: dict[str, VariantSpec] = option(
        "{NAME: variant}: encoder variants besides the built-in ones", factory=dict
    )
    tasks: dict[str, TaskSpec] = option("{NAME: task}: the fine-tuning tasks", factory=dict)
    parallel: ParallelConfig = option("the parallel data", factory=ParallelConfig)
    adjust: AdjustConfig = option("the adjustments", factory=AdjustConfig)
    continual: ContinualConfig = option("continual learning", factory=ContinualConfig)
    analysis: AnalysisConfig = option("the analysis steps", factory=AnalysisConfig)
    xsr: XsrConfig | None = option("sentence retrieval (no section: no XSR steps)", None)
    common_args: dict[str, Any] = option(
        "options added to every adjustment and task step (e.g. report_to, bf16)", factory=dict
    )
    report: ReportConfig = option("the report", factory=ReportConfig)
    resources: dict[str, Resources] = option(
        "{KIND: resources}: what a step of each kind asks for (KIND: adjust, a task name, analysis, xsr, or default "
        'for every kind), e.g. {"default": {"gpus": 1, "time": "4:00:00"}, "qa": {"mem": "64G"}}',
        factory=dict,
    )
    slurm: SlurmConfig = option("the Slurm backend: what every job shares", factory=SlurmConfig)

    raw: dict[str, Any] = _internal()  # the merged dict the tree was built from (the manifest's "config")
    source: str | None = _internal()  # the config file, for error messages
    resolved_variants: list[Variant] = _internal(init=False)

    def __post_init__(self) -> None:
        for key, values in (("languages", self.languages), ("seeds", self.seeds), ("adjust.seeds", self.adjust.seeds)):
            if values is not None and not values:
                raise InputError(f"{key} is empty; give at least one value (or leave the key out for the default)")
        object.__setattr__(self, "resolved_variants", _resolve_variants(self))
        check_overlaps(self)
        _check_resources(self)

    def resources_for(self, kind: str) -> Resources:
        """What a step of ``kind`` (its ``key["task"]``) asks for: ``resources.KIND`` over ``resources.default``
        over :data:`RESOURCE_DEFAULTS` (a default of several GPUs or nodes gives one-process kinds one)."""
        merged: dict[str, Any] = {}
        for layer in (RESOURCE_DEFAULTS, self.resources.get("default"), self.resources.get(kind)):
            if layer is not None:
                merged.update({name: value for name, value in _plain(layer).items() if value is not None})
        if kind in SINGLE_PROCESS_KINDS:
            merged.update(gpus=min(merged["gpus"], 1), nodes=1)
        return Resources(**merged)

    def as_dict(self) -> dict[str, Any]:
        """The config as the file and ``--set`` gave it (``extends`` merged), with ``output_dir``: what
        ``study_manifest.json`` records (a tree built in code, without ``raw``: every key with its value)."""
        raw = copy.deepcopy(self.raw) if self.raw is not None else _plain(self)
        return {**raw, "output_dir": self.output_dir}


def _check_resources(config: StudyConfig) -> None:
    """Resource kinds must be step kinds; counts positive; one-process scripts get at most one GPU and node."""
    kinds = ["default", "adjust", *config.tasks, "analysis", "xsr"]
    for kind, resources in config.resources.items():
        if kind not in kinds:
            raise _unknown_key("resources", kind, kinds)
        for name, least in (("gpus", 0), ("nodes", 1), ("cpus", 1)):
            value = getattr(resources, name)
            if value is not None and value < least:
                raise InputError(f"resources.{kind}.{name} must be at least {least} (got {value})")
        if kind in SINGLE_PROCESS_KINDS and ((resources.gpus or 0) > 1 or (resources.nodes or 1) > 1):
            raise InputError(
                f"resources.{kind}: {kind} steps run run_analysis.py in one process: at most 1 GPU and 1 node "
                f"(got gpus {resources.gpus}, nodes {resources.nodes})"
            )


def _plain(value: Any) -> Any:
    """A section as JSON-like data: its config keys, recursively."""
    if is_dataclass(value):
        return {name: _plain(getattr(value, name)) for name in schema_fields(type(value))}
    if isinstance(value, dict):
        return {name: _plain(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _resolve_variants(config: StudyConfig) -> list[Variant]:
    """The config's ``variants`` with their specs (built-ins need none); an unknown name is an InputError."""
    specs = {name: VariantSpec(kind=name) for name in VARIANTS} | config.variant_specs
    unknown = [name for name in config.variants if name not in specs]
    if unknown:
        hint = _close_match(unknown[0], specs)
        raise InputError(
            f"variants: unknown variant(s) {unknown}; known: {', '.join(specs)} (add them to variant_specs)"
            + (f"; did you mean {hint}?" if hint else "")
        )
    variants = []
    for name in config.variants:
        spec = specs[name]
        languages = spec.languages or ("each" if spec.kind == "adjusted" else "all")
        variants.append(
            Variant(
                name,
                spec.kind,
                languages == "each",
                dict(spec.adjust_args),
                dict(spec.continual_args),
                spec.start_from or config.continual.start_from,
                dict(spec.task_args),
            )
        )
    return variants


# ---------------------------------------------------------------------------------------------------------------
# Reading, overriding, building


def load_config(path: str | Path, overrides: Sequence[str] = (), *, output_dir: str | None = None) -> StudyConfig:
    """The study config of ``path``: ``extends`` resolved, then the ``--set`` ``overrides`` and ``output_dir``
    (``--output_dir``) applied, then built and checked (an InputError names the key and ``path``)."""
    raw = apply_overrides(read_config(path), overrides, path)
    if output_dir:
        raw["output_dir"] = output_dir
    return build_config(raw, path)


def read_config(path: str | Path, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON of ``path`` merged over the config it ``extends`` (recursively), as a plain dict."""
    if not os.path.isfile(path):
        raise InputError("config file not found", path)
    with open(path, encoding="utf-8") as handle:
        try:
            config = json.load(handle)
        except json.JSONDecodeError as error:
            raise InputError(f"not valid JSON: {error}", path) from None
    if not isinstance(config, dict):
        raise InputError("a config is a JSON object", path)
    if "extends" in config:
        parent = os.path.join(os.path.dirname(path), config.pop("extends"))
        if os.path.abspath(parent) in _seen:
            raise InputError("extends loops back to itself", path)
        config = _merge(read_config(parent, (*_seen, os.path.abspath(path))), config)
    return config


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in update.items():
        merged[name] = (
            _merge(merged[name], value) if isinstance(value, dict) and isinstance(merged.get(name), dict) else value
        )
    return merged


def apply_overrides(
    raw: Mapping[str, Any], overrides: Sequence[str], source: str | Path | None = None
) -> dict[str, Any]:
    """``tasks.ner.args.max_steps=200`` → ``raw["tasks"]["ner"]["args"]["max_steps"] = 200`` on a copy (the value
    is parsed as JSON, else kept as a string); a path that is not a config key is refused."""
    config = copy.deepcopy(dict(raw))
    for override in overrides:
        path, separator, text = override.partition("=")
        if not separator:
            raise InputError(f"--set takes PATH=VALUE (got {override!r})")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        parts = path.split(".")
        try:
            _check_key_path(parts)
        except InputError as error:
            raise InputError(f"--set {override}: {error.message}", source) from None
        node = config
        for depth, name in enumerate(parts[:-1], start=1):
            if node.get(name) is None:
                node[name] = {}
            elif not isinstance(node[name], dict):
                raise InputError(f"--set {override}: {'.'.join(parts[:depth])} is not an object", source)
            node = node[name]
        node[parts[-1]] = value
    return config


def build_config(raw: Mapping[str, Any], source: str | Path | None = None) -> StudyConfig:
    """The tree of ``raw`` (a merged config dict); any mistake is an InputError naming the key and ``source``."""
    source = None if source is None else str(source)
    try:
        values = _field_values(StudyConfig, copy.deepcopy(dict(raw)), "")
        return StudyConfig(**values, raw=copy.deepcopy(dict(raw)), source=source)
    except InputError as error:
        if error.path is not None:
            raise
        raise InputError(error.message, source) from None


def schema_fields(cls: type) -> dict[str, Field]:
    """The config keys of a section: its fields but the internal ones."""
    return {f.name: f for f in fields(cls) if not f.metadata.get(_INTERNAL)}


@functools.cache
def _types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _dotted(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _close_match(name: str, known: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(name, list(known), n=1)
    return matches[0] if matches else None


def _unknown_key(parent: str, name: str, known: Iterable[str]) -> InputError:
    known = list(known)
    close = _close_match(name, known)
    hint = f"did you mean {_dotted(parent, close)}?" if close else f"expected one of: {', '.join(known)}"
    return InputError(f"unknown key {_dotted(parent, name)}; {hint}")


def _field_values(cls: type, data: Any, key: str) -> dict[str, Any]:
    """The constructor arguments of section ``cls`` from ``data``, found at ``key`` in the config."""
    if not isinstance(data, dict):
        raise _wrong_type(key, "an object", data)
    known = schema_fields(cls)
    for name in data:
        if name not in known:
            raise _unknown_key(key, name, known)
    values = {}
    for name, spec in known.items():
        dotted = _dotted(key, name)
        if name not in data:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise InputError(f"the config needs {dotted}")
            continue
        value = _convert(_types(cls)[name], data[name], dotted)
        if value is not None and spec.metadata["choices"]:
            value = spec.metadata["aliases"].get(value, value)
            if value not in spec.metadata["choices"]:
                raise InputError(f"{dotted} must be {_alternatives(spec.metadata['choices'])} (got {data[name]!r})")
        values[name] = value
    return values


def _alternatives(choices: Sequence[str]) -> str:
    return f"{choices[0]} or {choices[1]}" if len(choices) == 2 else f"one of {', '.join(choices)}"


_SCALARS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _convert(kind: Any, value: Any, key: str) -> Any:
    """``value`` checked against the field type ``kind`` (sections built, lists and maps checked item by item)."""
    if kind is Any:
        return value
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        inner = [argument for argument in arguments if argument is not type(None)]
        if value is None and len(inner) < len(arguments):
            return None
        (kind,) = inner
        return _convert(kind, value, key)
    if is_dataclass(kind):
        return kind(**_field_values(kind, value, key))
    if origin is list:
        if not isinstance(value, list):
            raise _wrong_type(key, "a list", value)
        return [_convert(arguments[0], item, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _wrong_type(key, "an object", value)
        return {name: _convert(arguments[1], item, _dotted(key, name)) for name, item in value.items()}
    if kind not in _SCALARS:
        raise TypeError(f"no config type {kind!r} (field {key})")  # a field type this builder does not know
    accepted = (int, float) if kind is float else kind  # a JSON 1 is a number too
    if not isinstance(value, accepted) or (isinstance(value, bool) and kind is not bool):
        raise _wrong_type(key, _SCALARS[kind], value)
    return value


def _wrong_type(key: str, expected: str, value: Any) -> InputError:
    return InputError(f"{key} must be {expected} (got {json.dumps(value)})")


def _check_key_path(parts: Sequence[str]) -> None:
    """A ``--set`` path must lead through config keys; inside a free-form map anything goes."""
    kind: Any = StudyConfig
    for depth, name in enumerate(parts):
        parent = ".".join(parts[:depth])
        if typing.get_origin(kind) in (Union, types.UnionType):
            (kind,) = [argument for argument in typing.get_args(kind) if argument is not type(None)]
        if kind is Any:
            return
        if is_dataclass(kind):
            known = schema_fields(kind)
            if name not in known:
                raise _unknown_key(parent, name, known)
            kind = _types(kind)[name]
        elif typing.get_origin(kind) is dict:
            kind = typing.get_args(kind)[1]
        else:
            raise InputError(f"{parent} has no keys")

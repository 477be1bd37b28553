"""The study as data: a config → a list of :class:`Step` (script, arguments, output folder, dependencies).

reproduce.py runs the steps; tests and ``--dry_run`` only look at them. Layout under ``output_dir``::

    adjust/{per_language/LANG | joint}/seed{n}/       run_adjust.py (an adjusted encoder per seed)
    adjust/{variant}/[LANG/]seed{n}/                  the same for a variant of variant_specs (its own adjust_args)
    {task}/original/seed{n}/                          the original encoder, every language evaluated
    {task}/adjusted/LANG/seed{n}/                     encoder adjusted on LANG only, evaluated on en and LANG
    {task}/joint/seed{n}/                             encoder adjusted on all languages jointly
    {task}/continual/seed{n}/                         continual learning on all languages (alignment loss while
                                                      fine-tuning), from the joint encoder
    {task}/{variant}/[LANG/]seed{n}/                  any variant of variant_specs (e.g. continual-lang/LANG:
                                                      continual learning on LANG's pairs, from LANG's encoder)
    analysis/{per_language/LANG | joint | variant[/LANG]}/seed{n}/
                                                      run_analysis.py on held-out pairs: original, adjusted and
                                                      the task model fine-tuned from each (original+TASK, ...)
    xsr/{variant}/LANG/seed{n}/                       run_analysis.py sentence retrieval on Tatoeba, one encoder

Config schema (JSON; every key optional except ``model_name_or_path``; see configs/paper.json)::

    extends              another config (path relative to this one) that this one changes: dictionaries are
                         merged key by key, anything else is replaced (configs/data_size.json extends paper.json)
    model_name_or_path   the original encoder (Hub name or folder)
    output_dir           root of the study (default out/study)
    launcher             command prefix, e.g. ["accelerate", "launch"]; [] or ["python"] runs the current Python
    languages            target languages (English is the source), e.g. ["es", "ru", "vi", "hi"]
    seeds                e.g. [1, 2, 3]
    variants             names: the built-in original, adjusted, joint, continual, or any of variant_specs
    variant_specs        {NAME: {"kind": "original" | "adjusted" | "joint" | "continual",
                                 "languages": "each" | "all",  (adjusted: each, joint and continual: all)
                                 "adjust_args": {run_adjust.py option: value},  (over adjust.args)
                                 "continual_args": {align_* option: value},  (over continual.args)
                                 "start_from": "adjusted" | "original"}}  (continual only; default continual's)
    tasks                {name: {"script", "args": {flag: value}, "eval_flag", "eval_values": {lang: [...]},
                          "include_english", "enabled"}}
    parallel             {"dataset_name", "config_template" (e.g. "{lang}-en"; default: the two codes sorted,
                          OPUS-style: ar-en, en-es), "split",
                          "files": {lang: {"text": PATH, "align": PATH or null}}}  (files win over the dataset)
    adjust               {"args": {flag: value}, "seeds": [n]}  (run_adjust.py options besides model, data, output,
                         seed; "seeds": adjust only with these seeds, task seeds not among them use the first;
                         default: one adjustment per task seed)
    continual            {"start_from": "adjusted" | "original", "args": {align_* options}}  ("adjusted": the
                         encoder adjusted on the same pairs, i.e. the joint one for a run on all languages, the
                         language's own for a per-language run; "joint" is read as "adjusted")
    analysis             {"enabled", "task_models" (default true: add the task models fine-tuned from each
                         encoder), "args": {flag: value}}
    xsr                  {"enabled", "args": {run_analysis.py option: value}}  (sentence retrieval per language
                         and encoder variant, e.g. {"retrieval_corpus": "tatoeba", "layers": [8, -1]}; no
                         section: no XSR steps)
    common_args          options added to every adjustment and task step (e.g. report_to, bf16)
    report               {"enabled", "args": {run_report.py option: value}}  (run at the end of reproduce.py)

Argument values: booleans → ``--flag true`` / ``--flag false``, a list → several values, ``null`` → left
out; ``{language}`` in a string is replaced by the step's language where there is one (``{lang}`` is left to the
scripts, which fill it per evaluated language).

Step keys (``--only`` filters and the manifest): task (a task, ``adjust``, ``analysis`` or ``xsr``), variant,
language (absent for runs over every language), seed, and ``pairs`` (``max_train_pairs`` of the adjustment) for
adjustments and the runs of the encoders they produce.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from xladjust.data.languages import default_config_name
from xladjust.errors import InputError
from xladjust.run_folder import RUN_FILE, is_finished

VARIANTS = ("original", "adjusted", "joint", "continual")
KINDS = ("original", "adjusted", "joint", "continual")


@dataclass
class Step:
    """One run of one script. ``key`` holds the matrix coordinates used by ``--only`` and the manifest."""

    name: str
    script: str
    args: list[str]
    output_dir: str
    depends_on: list[str] = field(default_factory=list)
    key: dict[str, str] = field(default_factory=dict)

    @property
    def done_marker(self) -> str:
        """The step's ``run.json``: the step is done when it says ``finished`` (see :mod:`xladjust.run_folder`)."""
        return os.path.join(self.output_dir, RUN_FILE)

    def is_done(self) -> bool:
        return is_finished(self.output_dir)

    def command(self, launcher: Sequence[str]) -> list[str]:
        prefix = list(launcher)
        if not prefix or prefix == ["python"]:
            prefix = [sys.executable]
        return [*prefix, self.script, *self.args]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Variant:
    """One encoder variant of the matrix, resolved from the built-ins and ``variant_specs``."""

    name: str
    kind: str
    each_language: bool
    adjust_args: Mapping[str, Any] = field(default_factory=dict)
    continual_args: Mapping[str, Any] = field(default_factory=dict)
    start_from: str = "adjusted"

    @property
    def adjusts(self) -> bool:
        """Whether the variant's task runs start from an encoder run_adjust.py produced."""
        return self.kind in ("adjusted", "joint") or (self.kind == "continual" and self.start_from == "adjusted")

    @property
    def adjust_group(self) -> str:
        """The folder under adjust/ (and analysis/) of the adjustment this variant starts from: the built-in
        per_language / joint adjustments unless the variant has adjust_args of its own."""
        if self.name in ("adjusted", "joint") or (self.kind == "continual" and not self.adjust_args):
            return "per_language" if self.each_language else "joint"
        return self.name


def _merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in update.items():
        merged[name] = (
            _merge(merged[name], value) if isinstance(value, dict) and isinstance(merged.get(name), dict) else value
        )
    return merged


def load_config(path: str, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise InputError("config file not found", path)
    with open(path, encoding="utf-8") as handle:
        try:
            config = json.load(handle)
        except json.JSONDecodeError as error:
            raise InputError(f"not valid JSON: {error}", path) from None
    if "extends" in config:
        parent = os.path.join(os.path.dirname(path), config.pop("extends"))
        if os.path.abspath(parent) in _seen:
            raise InputError("extends loops back to itself", path)
        config = _merge(load_config(parent, (*_seen, os.path.abspath(path))), config)
    if _seen:
        return config
    if "model_name_or_path" not in config:
        raise InputError("the config needs model_name_or_path", path)
    resolve_variants(config, path)
    return config


def resolve_variants(config: Mapping[str, Any], path: str | None = None) -> list[Variant]:
    """The config's ``variants`` with their specs (built-ins need none); bad names or specs are an InputError."""
    continual = config.get("continual", {})
    default_start = _start_from(continual.get("start_from", "adjusted"), path)
    specs = {
        "original": {"kind": "original"},
        "adjusted": {"kind": "adjusted"},
        "joint": {"kind": "joint"},
        "continual": {"kind": "continual"},
        **config.get("variant_specs", {}),
    }
    names = list(config.get("variants", VARIANTS))
    unknown = [name for name in names if name not in specs]
    if unknown:
        raise InputError(f"unknown variant(s) {unknown}; known: {', '.join(specs)} (add them to variant_specs)", path)
    variants = []
    for name in names:
        spec = specs[name]
        kind = spec.get("kind")
        if kind not in KINDS:
            raise InputError(f"variant_specs.{name}.kind must be one of {', '.join(KINDS)} (got {kind!r})", path)
        languages = spec.get("languages", "each" if kind == "adjusted" else "all")
        if languages not in ("each", "all"):
            raise InputError(f"variant_specs.{name}.languages must be each or all (got {languages!r})", path)
        start = _start_from(spec["start_from"], path) if "start_from" in spec else default_start
        variants.append(
            Variant(
                name,
                kind,
                languages == "each",
                dict(spec.get("adjust_args", {})),
                dict(spec.get("continual_args", {})),
                start,
            )
        )
    return variants


def _start_from(value: str, path: str | None) -> str:
    if value not in ("adjusted", "joint", "original"):
        raise InputError(f"start_from must be adjusted or original (got {value!r})", path)
    return "adjusted" if value == "joint" else value


def render_args(options: Mapping[str, Any], language: str | None = None) -> list[str]:
    """``{"learning_rate": 5e-5, "do_train": true, "eval_languages": ["en", "es"]}`` → command-line words."""
    words: list[str] = []
    for name, value in options.items():
        if value is None:
            continue
        flag = name if name.startswith("--") else f"--{name}"
        if isinstance(value, bool):  # explicit: Optional[bool] fields (disable_tqdm) need a value
            words += [flag, str(value).lower()]
        elif isinstance(value, list | tuple):
            words += [flag, *(_fill(str(v), language) for v in value)]
        else:
            words += [flag, _fill(str(value), language)]
    return words


def _fill(text: str, language: str | None) -> str:
    return text.replace("{language}", language) if language is not None else text


def _parallel_args(config: Mapping[str, Any], languages: Sequence[str], prefix: str) -> list[str]:
    """Parallel-data options of run_adjust.py (``prefix=""``) or of continual learning (``prefix="align_"``)."""
    parallel = config.get("parallel", {})
    files = parallel.get("files", {})
    local = [lang for lang in languages if lang in files]
    if local and len(local) != len(languages):
        raise InputError(f"parallel.files covers {local} but not all of {list(languages)}")
    if local:
        text_flag = "--align_parallel_file" if prefix else "--parallel_files"
        align_flag = "--align_alignment_file" if prefix else "--alignment_files"
        words = [text_flag, *(files[lang]["text"] for lang in languages)]
        if all(files[lang].get("align") for lang in languages):
            words += [align_flag, *(files[lang]["align"] for lang in languages)]
        return words
    name = parallel.get("dataset_name")
    if not name:
        raise InputError("the config needs parallel.dataset_name or parallel.files for every language")
    template = parallel.get("config_template")
    words = [f"--{prefix}{'dataset_name' if prefix else 'parallel_dataset_name'}", name]
    words += [f"--{prefix}{'dataset_config_names' if prefix else 'parallel_dataset_config_names'}"]
    words += [template.replace("{lang}", lang) if template else default_config_name(lang) for lang in languages]
    if not prefix and parallel.get("split"):
        words += ["--parallel_dataset_split", parallel["split"]]
    return words


def _seed_dir(*parts: str, seed: int) -> str:
    return os.path.join(*parts, f"seed{seed}")


def build_steps(config: Mapping[str, Any]) -> list[Step]:
    """Every step of the study, dependencies before dependants."""
    return _Matrix(config).steps()


class _Matrix:
    """The step builders of one config; ``steps`` lists adjustments, task runs, analyses and XSR in that order."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config
        self.root = config.get("output_dir", "out/study")
        self.base = config["model_name_or_path"]
        self.languages = list(config.get("languages", ["es", "ru", "vi", "hi"]))
        self.seeds = [int(s) for s in config.get("seeds", [1, 2, 3])]
        self.variants = resolve_variants(config)
        self.common = dict(config.get("common_args", {}))
        self.adjust_seeds = [int(s) for s in config.get("adjust", {}).get("seeds", self.seeds)]
        self.tasks = {task: spec for task, spec in config.get("tasks", {}).items() if spec.get("enabled", True)}
        self.adjustments: dict[tuple[str, str, int], Step] = {}  # (adjust group, language or "joint", seed)
        self.task_runs: dict[tuple[str, str, str | None, int], Step] = {}  # (task, variant, language, seed)

    def adjust_seed(self, seed: int) -> int:
        return seed if seed in self.adjust_seeds else self.adjust_seeds[0]

    def steps(self) -> list[Step]:
        for seed in self.adjust_seeds:
            for variant in self.variants:
                if variant.adjusts:
                    for group in self.language_groups(variant):
                        self.adjustment(variant, group, seed)
        steps = list(self.adjustments.values())
        for task, spec in self.tasks.items():
            for seed in self.seeds:
                for variant in self.variants:
                    for group in self.language_groups(variant):
                        step = self.task_step(task, spec, variant, group, seed)
                        self.task_runs[(task, variant.name, group, seed)] = step
                        steps.append(step)
        if self.config.get("analysis", {}).get("enabled", True):
            steps += self.analysis_steps()
        if "xsr" in self.config and self.config["xsr"].get("enabled", True):  # older configs have no XSR section
            steps += self.xsr_steps()
        return steps

    def language_groups(self, variant: Variant) -> list[str | None]:
        """The languages a variant has one run for each of, or ``[None]``: one run over every language."""
        return list(self.languages) if variant.each_language and variant.kind != "original" else [None]

    def adjustment(self, variant: Variant, language: str | None, seed: int) -> Step:
        """The adjustment a variant's runs start from (built once, shared by the variants that use it)."""
        group, label, seed = variant.adjust_group, language or "joint", self.adjust_seed(seed)
        if (group, label, seed) in self.adjustments:
            return self.adjustments[(group, label, seed)]
        langs = [language] if language else self.languages
        parts = [group, *([language] if language and group != "joint" else [])]
        out = _seed_dir(self.root, "adjust", *parts, seed=seed)
        options = {**self.common, **self.config.get("adjust", {}).get("args", {}), **variant.adjust_args}
        args = ["--model_name_or_path", self.base, "--languages", *langs, *_parallel_args(self.config, langs, "")]
        args += render_args(options) + ["--seed", str(seed), "--output_dir", out]
        builtin = group in ("per_language", "joint")
        name_variant = ("adjusted" if language else "joint") if builtin else variant.name
        key = {"task": "adjust", "variant": name_variant, "seed": str(seed), **_pairs_key(options)}
        if language:
            key["language"] = language
        name = "-".join(["adjust", *([] if builtin else [variant.name]), label, f"seed{seed}"])
        step = Step(name, "run_adjust.py", args, out, key=key)
        self.adjustments[(group, label, seed)] = step
        return step

    def task_step(self, task: str, spec: Mapping[str, Any], variant: Variant, language: str | None, seed: int) -> Step:
        parent = self.adjustment(variant, language, seed) if variant.adjusts else None
        parts = [self.root, task, variant.name, *([language] if language else [])]
        out = _seed_dir(*parts, seed=seed)
        model = parent.output_dir if parent else self.base
        evaluated = [language] if language else list(self.languages)
        if spec.get("include_english", True):
            evaluated = ["en", *evaluated]
        values = spec.get("eval_values", {})
        eval_words = [v for lang in evaluated for v in values.get(lang, [lang])]
        args = ["--model_name_or_path", model]
        args += render_args({**self.common, **spec.get("args", {})}, language)
        args += [spec.get("eval_flag", "--eval_languages"), *eval_words]
        if variant.kind == "continual":
            aligned = [language] if language else self.languages
            options = {**self.config.get("continual", {}).get("args", {}), **variant.continual_args}
            args += ["--align_languages", *aligned, *_parallel_args(self.config, aligned, "align_")]
            args += render_args(options)
        args += ["--seed", str(seed), "--output_dir", out]
        key = {"task": task, "variant": variant.name, "seed": str(seed)}
        if parent is not None and variant.kind != "continual":
            key.update({k: v for k, v in parent.key.items() if k == "pairs"})
        if language:
            key["language"] = language
        name = "-".join([task, variant.name, *([language] if language else []), f"seed{seed}"])
        return Step(name, spec.get("script", f"run_{task}.py"), args, out, [parent.name] if parent else [], key)

    def analysis_steps(self) -> list[Step]:
        """Per adjusted encoder, language group and seed: original vs adjusted on the adjustment's held-out pairs,
        with the task models fine-tuned from each (``original+TASK``, ``adjusted+TASK``) when there are any."""
        analysis = self.config.get("analysis", {})
        with_tasks = analysis.get("task_models", True) and bool(self.tasks)
        steps = []
        for variant in self.variants:
            if variant.kind not in ("adjusted", "joint"):
                continue
            for language in self.language_groups(variant):
                for seed in self.seeds if with_tasks else self.adjust_seeds:
                    parent = self.adjustment(variant, language, seed)
                    models, depends = self.analysis_models(variant, language, seed, parent, with_tasks)
                    langs = [language] if language else self.languages
                    group = variant.adjust_group
                    out = _seed_dir(self.root, "analysis", group, *([language] if language else []), seed=seed)
                    heldout = os.path.join(parent.output_dir, "heldout")
                    args = ["--models", *(f"{label}={path}" for label, path in models.items()), "--languages", *langs]
                    args += ["--parallel_files", *(os.path.join(heldout, f"{lang}-en.txt") for lang in langs)]
                    args += ["--alignment_files", *(os.path.join(heldout, f"{lang}-en.align") for lang in langs)]
                    args += render_args(analysis.get("args", {})) + ["--seed", str(seed), "--output_dir", out]
                    key = {"task": "analysis", "variant": variant.name, "seed": str(seed), **_pairs_key_of(parent)}
                    if language:
                        key["language"] = language
                    label = "-".join(
                        [*([] if group in ("per_language", "joint") else [variant.name]), language or "joint"]
                    )
                    steps.append(Step(f"analysis-{label}-seed{seed}", "run_analysis.py", args, out, depends, key))
        return steps

    def analysis_models(
        self, variant: Variant, language: str | None, seed: int, parent: Step, with_tasks: bool
    ) -> tuple[dict[str, str], list[str]]:
        """``{label: folder}`` of the four models per task (original, adjusted, original+TASK, adjusted+TASK) and
        the steps that write them; run_analysis.py reads the encoder inside a task model (AutoModel)."""
        models = {"original": self.base, "adjusted": parent.output_dir}
        depends = [parent.name]
        for task in self.tasks if with_tasks else []:
            runs = {
                "original": self.task_runs.get((task, "original", None, seed)),
                "adjusted": self.task_runs.get((task, variant.name, language, seed)),
            }
            for label, run in runs.items():
                if run is not None:
                    models[f"{label}+{task}"] = run.output_dir
                    depends.append(run.name)
        return models, depends

    def xsr_steps(self) -> list[Step]:
        """Sentence retrieval (Tatoeba, XTREME protocol) per language, encoder variant and adjustment seed; the
        model's label is the variant, so that run_report.py pairs each variant with the original sentence by
        sentence. The original encoder is run once per seed too (seconds) so that seeds pair up."""
        xsr = self.config.get("xsr", {})
        steps = []
        for variant in self.variants:
            if variant.kind not in ("original", "adjusted", "joint"):
                continue
            for language in self.languages:
                for seed in self.adjust_seeds:
                    parent = None
                    if variant.kind != "original":
                        parent = self.adjustment(variant, language if variant.each_language else None, seed)
                    model = parent.output_dir if parent else self.base
                    out = _seed_dir(self.root, "xsr", variant.name, language, seed=seed)
                    args = ["--analyses", "sentence_retrieval", "--languages", language]
                    args += ["--models", f"{variant.name}={model}", *render_args(xsr.get("args", {}), language)]
                    args += ["--seed", str(seed), "--output_dir", out]
                    key = {"task": "xsr", "variant": variant.name, "language": language, "seed": str(seed)}
                    key.update(_pairs_key_of(parent) if parent and variant.each_language else {})
                    name = f"xsr-{variant.name}-{language}-seed{seed}"
                    steps.append(Step(name, "run_analysis.py", args, out, [parent.name] if parent else [], key))
        return steps


def _pairs_key(options: Mapping[str, Any]) -> dict[str, str]:
    pairs = options.get("max_train_pairs")
    return {"pairs": str(pairs)} if pairs is not None else {}


def _pairs_key_of(step: Step | None) -> dict[str, str]:
    return {"pairs": step.key["pairs"]} if step is not None and "pairs" in step.key else {}


def parse_filters(filters: Iterable[str]) -> dict[str, set[str]]:
    """``["task=xnli", "language=es,ru"]`` → ``{"task": {"xnli"}, "language": {"es", "ru"}}``."""
    parsed: dict[str, set[str]] = {}
    for item in filters:
        name, separator, value = item.partition("=")
        if not separator or name not in {"task", "variant", "language", "seed", "pairs"}:
            raise InputError(f"--only takes task=, variant=, language=, seed=, pairs= (got {item!r})")
        parsed.setdefault(name, set()).update(value.split(","))
    return parsed


def select(steps: Sequence[Step], filters: Mapping[str, set[str]]) -> list[Step]:
    """Steps matching every filter, plus the steps they depend on (a filter on task=xnli keeps its adjustments).

    A filter on ``language`` keeps language-free steps (original, joint, continual runs evaluate every language).
    """

    def matches(step: Step) -> bool:
        for name, wanted in filters.items():
            value = step.key.get(name)
            if value is None and name == "language":
                continue
            if value not in wanted:
                return False
        return True

    by_name = {step.name: step for step in steps}
    keep: set[str] = set()
    stack = [step.name for step in steps if matches(step)]
    while stack:
        name = stack.pop()
        if name not in keep:
            keep.add(name)
            stack += by_name[name].depends_on
    return [step for step in steps if step.name in keep]

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
                                                      continual learning on LANG's pairs, from LANG's encoder;
                                                      adjusted-avg/LANG: adjusted's encoder, its task_args added)
    analysis/{per_language/LANG | joint | variant[/LANG]}/seed{n}/
                                                      run_analysis.py on held-out pairs: original, adjusted and
                                                      the task model fine-tuned from each (original+TASK, ...)
    xsr/{variant}/LANG/seed{n}/                       run_analysis.py sentence retrieval on Tatoeba, one encoder

The config (its keys and their documentation) is :class:`xladjust.study.config.StudyConfig`.

Argument values: booleans → ``--flag true`` / ``--flag false``, a list → several values, ``null`` → left
out; ``{language}`` in a string is replaced by the step's language where there is one (``{lang}`` is left to the
scripts, which fill it per evaluated language).

Step keys (``--only`` filters and the manifest): task (a task, ``adjust``, ``analysis`` or ``xsr``), variant,
language (absent for runs over every language), seed, and ``pairs`` (``max_train_pairs`` of the adjustment) for
adjustments and the runs of the encoders they produce.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from xladjust.data.languages import default_config_name
from xladjust.errors import InputError
from xladjust.run_folder import RUN_FILE, is_finished
from xladjust.study.config import ParallelConfig, StudyConfig, TaskSpec, Variant


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Place(NamedTuple):
    """Where a step is in the matrix: its name, its key (``--only``, the manifest) and its folder."""

    name: str
    key: dict[str, str]
    output_dir: str


def place(
    root: str,
    task: str,
    variant: str,
    language: str | None,
    seed: int,
    *,
    label: Sequence[str] | None = None,
    folder: str | None = None,
    pairs: str | None = None,
) -> Place:
    """The one builder of step names, keys and folders: name ``TASK-LABEL-seed{n}`` (label: the variant and the
    language), key ``{task, variant, [language], seed, [pairs]}``, folder ``ROOT/TASK/FOLDER/[LANGUAGE/]seed{n}``
    (folder: the variant)."""
    languages = [language] if language else []
    label = [variant, *languages] if label is None else label
    key = {"task": task, "variant": variant, **({"language": language} if language else {}), "seed": str(seed)}
    if pairs is not None:
        key["pairs"] = pairs
    output_dir = os.path.join(root, task, folder or variant, *languages, f"seed{seed}")
    return Place("-".join([task, *label, f"seed{seed}"]), key, output_dir)


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


def _parallel_args(parallel: ParallelConfig, languages: Sequence[str], prefix: str, source: str | None) -> list[str]:
    """Parallel-data options of run_adjust.py (``prefix=""``) or of continual learning (``prefix="align_"``)."""
    files = parallel.files
    local = [lang for lang in languages if lang in files]
    if local and len(local) != len(languages):
        raise InputError(f"parallel.files covers {local} but not all of {list(languages)}", source)
    if local:
        text_flag = "--align_parallel_file" if prefix else "--parallel_files"
        align_flag = "--align_alignment_file" if prefix else "--alignment_files"
        words = [text_flag, *(files[lang]["text"] for lang in languages)]
        if all(files[lang].get("align") for lang in languages):
            words += [align_flag, *(files[lang]["align"] for lang in languages)]
        return words
    name = parallel.dataset_name
    if not name:
        raise InputError("the config needs parallel.dataset_name or parallel.files for every language", source)
    template = parallel.config_template
    words = [f"--{prefix}{'dataset_name' if prefix else 'parallel_dataset_name'}", name]
    words += [f"--{prefix}{'dataset_config_names' if prefix else 'parallel_dataset_config_names'}"]
    words += [template.replace("{lang}", lang) if template else default_config_name(lang, name) for lang in languages]
    if not prefix and parallel.split:
        words += ["--parallel_dataset_split", parallel.split]
    if parallel.columns:
        words += [f"--{prefix}parallel_columns", *parallel.columns]
    return words


def build_steps(config: StudyConfig) -> list[Step]:
    """Every step of the study, dependencies before dependants."""
    return _Matrix(config).steps()


class _Matrix:
    """The step builders of one config; ``steps`` lists adjustments, task runs, analyses and XSR in that order."""

    def __init__(self, config: StudyConfig) -> None:
        self.config = config
        self.root = config.output_dir
        self.base = config.model_name_or_path
        self.languages = list(config.languages)
        self.seeds = list(config.seeds)
        self.variants = config.resolved_variants
        self.common = dict(config.common_args)
        self.adjust_seeds = list(config.adjust.seeds) if config.adjust.seeds is not None else self.seeds
        self.tasks = {task: spec for task, spec in config.tasks.items() if spec.enabled}
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
                        if group is not None and not spec.covers(group):
                            continue
                        step = self.task_step(task, spec, variant, group, seed)
                        self.task_runs[(task, variant.name, group, seed)] = step
                        steps.append(step)
        if self.config.analysis.enabled:
            steps += self.analysis_steps()
        if self.config.xsr is not None and self.config.xsr.enabled:  # older configs have no XSR section
            steps += self.xsr_steps()
        return steps

    def language_groups(self, variant: Variant) -> list[str | None]:
        """The languages a variant has one run for each of, or ``[None]``: one run over every language."""
        return list(self.languages) if variant.each_language and variant.kind != "original" else [None]

    def adjustment_place(
        self, task: str, variant: Variant, language: str | None, seed: int, keyed_as: str, pairs: str | None
    ) -> Place:
        """A step of an adjustment (adjust/, analysis/): in the adjustment's group folder, named by its language
        (``adjust-es-seed1``, ``analysis-joint-seed1``), after the variant too unless it is a built-in one."""
        label = [*([] if variant.builtin_adjustment else [variant.name]), language or "joint"]
        return place(self.root, task, keyed_as, language, seed, label=label, folder=variant.adjust_group, pairs=pairs)

    def adjustment(self, variant: Variant, language: str | None, seed: int) -> Step:
        """The adjustment a variant's runs start from (built once, shared by the variants that use it)."""
        group, label, seed = variant.adjust_group, language or "joint", self.adjust_seed(seed)
        if (group, label, seed) in self.adjustments:
            return self.adjustments[(group, label, seed)]
        langs = [language] if language else self.languages
        options = {**self.common, **self.config.adjust.args, **variant.adjust_args}
        pairs = options.get("max_train_pairs")
        keyed_as = ("adjusted" if language else "joint") if variant.builtin_adjustment else variant.name
        name, key, out = self.adjustment_place(
            "adjust", variant, language, seed, keyed_as, None if pairs is None else str(pairs)
        )
        args = ["--model_name_or_path", self.base, "--languages", *langs]
        args += _parallel_args(self.config.parallel, langs, "", self.config.source)
        args += render_args(options) + ["--seed", str(seed), "--output_dir", out]
        step = Step(name, "run_adjust.py", args, out, key=key)
        self.adjustments[(group, label, seed)] = step
        return step

    def task_step(self, task: str, spec: TaskSpec, variant: Variant, language: str | None, seed: int) -> Step:
        parent = self.adjustment(variant, language, seed) if variant.adjusts else None
        pairs = parent.key.get("pairs") if parent is not None and variant.kind != "continual" else None
        name, key, out = place(self.root, task, variant.name, language, seed, pairs=pairs)
        model = parent.output_dir if parent else self.base
        evaluated = [language] if language else [lang for lang in self.languages if spec.covers(lang)]
        if spec.include_english:
            evaluated = ["en", *evaluated]
        eval_words = [v for lang in evaluated for v in spec.eval_values.get(lang, [lang])]
        args = ["--model_name_or_path", model]
        args += render_args({**self.common, **spec.args, **variant.task_args}, language)
        args += [spec.eval_flag, *eval_words]
        if variant.kind == "continual":
            aligned = [language] if language else self.languages
            options = {**self.config.continual.args, **variant.continual_args}
            args += ["--align_languages", *aligned]
            args += _parallel_args(self.config.parallel, aligned, "align_", self.config.source)
            args += render_args(options)
        args += ["--seed", str(seed), "--output_dir", out]
        return Step(name, spec.script or f"run_{task}.py", args, out, [parent.name] if parent else [], key)

    def analysis_steps(self) -> list[Step]:
        """Per adjusted encoder, language group and seed: original vs adjusted on the adjustment's held-out pairs,
        with the task models fine-tuned from each (``original+TASK``, ``adjusted+TASK``) when there are any."""
        analysis = self.config.analysis
        with_tasks = analysis.task_models and bool(self.tasks)
        steps = []
        for variant in self.variants:
            if variant.kind not in ("adjusted", "joint") or variant.builtin_encoder:
                continue
            for language in self.language_groups(variant):
                for seed in self.seeds if with_tasks else self.adjust_seeds:
                    parent = self.adjustment(variant, language, seed)
                    models, depends = self.analysis_models(variant, language, seed, parent, with_tasks)
                    langs = [language] if language else self.languages
                    name, key, out = self.adjustment_place(
                        "analysis", variant, language, seed, variant.name, parent.key.get("pairs")
                    )
                    heldout = os.path.join(parent.output_dir, "heldout")
                    args = ["--models", *(f"{label}={path}" for label, path in models.items()), "--languages", *langs]
                    args += ["--parallel_files", *(os.path.join(heldout, f"{lang}-en.txt") for lang in langs)]
                    args += ["--alignment_files", *(os.path.join(heldout, f"{lang}-en.align") for lang in langs)]
                    args += render_args(analysis.args) + ["--seed", str(seed), "--output_dir", out]
                    steps.append(Step(name, "run_analysis.py", args, out, depends, key))
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
        xsr_args = self.config.xsr.args if self.config.xsr is not None else {}
        steps = []
        for variant in self.variants:
            if variant.kind not in ("original", "adjusted", "joint") or variant.builtin_encoder:
                continue
            for language in self.languages:
                for seed in self.adjust_seeds:
                    parent = None
                    if variant.kind != "original":
                        parent = self.adjustment(variant, language if variant.each_language else None, seed)
                    pairs = parent.key.get("pairs") if parent is not None and variant.each_language else None
                    name, key, out = place(self.root, "xsr", variant.name, language, seed, pairs=pairs)
                    model = parent.output_dir if parent else self.base
                    args = ["--analyses", "sentence_retrieval", "--languages", language]
                    args += ["--models", f"{variant.name}={model}", *render_args(xsr_args, language)]
                    args += ["--seed", str(seed), "--output_dir", out]
                    steps.append(Step(name, "run_analysis.py", args, out, [parent.name] if parent else [], key))
        return steps


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

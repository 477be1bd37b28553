"""The study as data: a config → a list of :class:`Step` (script, arguments, output folder, dependencies).

reproduce.py runs the steps; tests and ``--dry_run`` only look at them. Layout under ``output_dir``::

    adjust/{per_language/LANG | joint}/seed{n}/       run_adjust.py (an adjusted encoder per seed)
    {task}/original/seed{n}/                          the original encoder, every language evaluated
    {task}/adjusted/LANG/seed{n}/                     encoder adjusted on LANG only, evaluated on en and LANG
    {task}/joint/seed{n}/                             encoder adjusted on all languages jointly
    {task}/continual/seed{n}/                         continual learning (alignment loss during fine-tuning)
    analysis/{per_language/LANG | joint}/seed{n}/     run_analysis.py, original vs adjusted, held-out pairs

Config schema (JSON; every key optional except ``model_name_or_path``; see configs/paper.json)::

    model_name_or_path   the original encoder (Hub name or folder)
    output_dir           root of the study (default out/study)
    launcher             command prefix, e.g. ["accelerate", "launch"]; [] or ["python"] runs the current Python
    languages            target languages (English is the source), e.g. ["es", "ru", "vi", "hi"]
    seeds                e.g. [1, 2, 3]
    variants             any of original, adjusted, joint, continual
    tasks                {name: {"script", "args": {flag: value}, "eval_flag", "eval_values": {lang: [...]},
                          "include_english", "enabled"}}
    parallel             {"dataset_name", "config_template" ("en-{lang}"), "split",
                          "files": {lang: {"text": PATH, "align": PATH or null}}}  (files win over the dataset)
    adjust               {"args": {flag: value}, "seeds": [n]}  (run_adjust.py options besides model, data, output,
                         seed; "seeds": adjust only with these seeds, task seeds not among them use the first;
                         default: one adjustment per task seed)
    continual            {"start_from": "joint" | "original", "args": {align_* options}}
    analysis             {"enabled", "args": {flag: value}}
    common_args          options added to every adjustment and task step (e.g. report_to, bf16)
    report               {"enabled", "args": {run_report.py option: value}}  (run at the end of reproduce.py)

Argument values: booleans → ``--flag true`` / ``--flag false``, a list → several values, ``null`` → left
out; ``{language}`` in a string is replaced by the step's language where there is one (``{lang}`` is left to the
scripts, which fill it per evaluated language).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from xladjust.errors import InputError
from xladjust.run_folder import RUN_FILE, is_finished

VARIANTS = ("original", "adjusted", "joint", "continual")


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


def load_config(path: str) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise InputError("config file not found", path)
    with open(path, encoding="utf-8") as handle:
        config = json.load(handle)
    if "model_name_or_path" not in config:
        raise InputError("the config needs model_name_or_path", path)
    unknown = set(config.get("variants", VARIANTS)) - set(VARIANTS)
    if unknown:
        raise InputError(f"unknown variant(s) {sorted(unknown)}; known: {', '.join(VARIANTS)}", path)
    if config.get("continual", {}).get("start_from", "joint") not in ("joint", "original"):
        raise InputError("continual.start_from must be joint or original", path)
    return config


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
    template = parallel.get("config_template", "en-{lang}")
    words = [f"--{prefix}{'dataset_name' if prefix else 'parallel_dataset_name'}", name]
    words += [f"--{prefix}{'dataset_config_names' if prefix else 'parallel_dataset_config_names'}"]
    words += [template.replace("{lang}", lang) for lang in languages]
    if not prefix and parallel.get("split"):
        words += ["--parallel_dataset_split", parallel["split"]]
    return words


def _seed_dir(*parts: str, seed: int) -> str:
    return os.path.join(*parts, f"seed{seed}")


def build_steps(config: Mapping[str, Any]) -> list[Step]:
    """Every step of the study, dependencies before dependants."""
    root = config.get("output_dir", "out/study")
    base = config["model_name_or_path"]
    languages = list(config.get("languages", ["es", "ru", "vi", "hi"]))
    seeds = [int(s) for s in config.get("seeds", [1, 2, 3])]
    variants = list(config.get("variants", VARIANTS))
    common = dict(config.get("common_args", {}))
    continual = config.get("continual", {})
    start_from = continual.get("start_from", "joint")
    needs_joint = "joint" in variants or ("continual" in variants and start_from == "joint")
    analysis = config.get("analysis", {})
    steps: list[Step] = []

    def adjust_step(group: str, langs: list[str], seed: int, label: str | None) -> Step:
        out = _seed_dir(root, "adjust", *([group, label] if label else [group]), seed=seed)
        args = ["--model_name_or_path", base, "--languages", *langs, *_parallel_args(config, langs, "")]
        args += render_args({**common, **config.get("adjust", {}).get("args", {})})
        args += ["--seed", str(seed), "--output_dir", out]
        key = {"task": "adjust", "variant": "adjusted" if label else "joint", "seed": str(seed)}
        if label:
            key["language"] = label
        return Step(f"adjust-{label or 'joint'}-seed{seed}", "run_adjust.py", args, out, key=key)

    adjust_seeds = [int(s) for s in config.get("adjust", {}).get("seeds", seeds)]

    def adjust_seed(seed: int) -> int:
        return seed if seed in adjust_seeds else adjust_seeds[0]

    adjusted: dict[tuple[str, int], Step] = {}
    for seed in adjust_seeds:
        if "adjusted" in variants:
            for lang in languages:
                adjusted[(lang, seed)] = adjust_step("per_language", [lang], seed, lang)
        if needs_joint:
            adjusted[("joint", seed)] = adjust_step("joint", languages, seed, None)
    steps += adjusted.values()

    for task, spec in config.get("tasks", {}).items():
        if not spec.get("enabled", True):
            continue
        for seed in seeds:
            for variant in variants:
                runs: list[tuple[str | None, Step | None]] = []
                if variant == "original":
                    runs.append((None, None))
                elif variant == "adjusted":
                    runs += [(lang, adjusted[(lang, adjust_seed(seed))]) for lang in languages]
                elif variant == "joint":
                    runs.append((None, adjusted[("joint", adjust_seed(seed))]))
                else:
                    runs.append((None, adjusted[("joint", adjust_seed(seed))] if start_from == "joint" else None))
                for lang, parent in runs:
                    steps.append(_task_step(config, task, spec, variant, lang, seed, parent, languages, common))

    if analysis.get("enabled", True):
        for (label, seed), parent in adjusted.items():
            if label == "joint" and "joint" not in variants:
                continue
            langs = languages if label == "joint" else [label]
            group = ["joint"] if label == "joint" else ["per_language", label]
            out = _seed_dir(root, "analysis", *group, seed=seed)
            heldout = os.path.join(parent.output_dir, "heldout")
            args = ["--models", f"original={base}", f"adjusted={parent.output_dir}", "--languages", *langs]
            args += ["--parallel_files", *(os.path.join(heldout, f"{lang}-en.txt") for lang in langs)]
            args += ["--alignment_files", *(os.path.join(heldout, f"{lang}-en.align") for lang in langs)]
            args += render_args(analysis.get("args", {})) + ["--seed", str(seed), "--output_dir", out]
            key = {"task": "analysis", "variant": parent.key["variant"], "seed": str(seed)}
            if label != "joint":
                key["language"] = label
            steps.append(Step(f"analysis-{label}-seed{seed}", "run_analysis.py", args, out, [parent.name], key))
    return steps


def _task_step(
    config: Mapping[str, Any],
    task: str,
    spec: Mapping[str, Any],
    variant: str,
    language: str | None,
    seed: int,
    parent: Step | None,
    languages: Sequence[str],
    common: Mapping[str, Any],
) -> Step:
    root = config.get("output_dir", "out/study")
    parts = [root, task, variant, *([language] if language else [])]
    out = _seed_dir(*parts, seed=seed)
    model = parent.output_dir if parent else config["model_name_or_path"]
    evaluated = [language] if language else list(languages)
    if spec.get("include_english", True):
        evaluated = ["en", *evaluated]
    values = spec.get("eval_values", {})
    eval_words = [v for lang in evaluated for v in values.get(lang, [lang])]
    args = ["--model_name_or_path", model]
    args += render_args({**common, **spec.get("args", {})}, language)
    args += [spec.get("eval_flag", "--eval_languages"), *eval_words]
    if variant == "continual":
        continual = config.get("continual", {})
        args += ["--align_languages", *languages, *_parallel_args(config, languages, "align_")]
        args += render_args(continual.get("args", {}))
    args += ["--seed", str(seed), "--output_dir", out]
    key = {"task": task, "variant": variant, "seed": str(seed)}
    if language:
        key["language"] = language
    name = "-".join([task, variant, *([language] if language else []), f"seed{seed}"])
    return Step(name, spec.get("script", f"run_{task}.py"), args, out, [parent.name] if parent else [], key)


def parse_filters(filters: Iterable[str]) -> dict[str, set[str]]:
    """``["task=xnli", "language=es,ru"]`` → ``{"task": {"xnli"}, "language": {"es", "ru"}}``."""
    parsed: dict[str, set[str]] = {}
    for item in filters:
        name, separator, value = item.partition("=")
        if not separator or name not in {"task", "variant", "language", "seed"}:
            raise InputError(f"--only takes task=, variant=, language=, seed= (got {item!r})")
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

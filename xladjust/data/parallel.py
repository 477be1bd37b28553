"""Word-aligned parallel data: reading, aligning and filtering, with every drop counted.

A corpus is a list of :class:`AlignedPair`: target-language words, English words and links
``(target_index, english_index)``. Sources are plain files (``TARGET ||| ENGLISH`` plus a Pharaoh
alignment file), or a ``datasets`` dataset (Hub or local) with a translation column or the two sides in two
string columns (:func:`read_parallel_dataset`); pairs without an alignment file are aligned with eflomal (or
another :class:`WordAligner`, e.g. SimAlign's matching).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from xladjust.data.dictionary_alignment import DictionaryAligner, DictionaryStats
from xladjust.data.hub import HubSource, load_first
from xladjust.data.languages import default_config_name
from xladjust.data.text import word_tokenize
from xladjust.errors import InputError
from xladjust.io import write_json, write_lines

if TYPE_CHECKING:  # the filter's module imports torch: only when a filter is asked for
    from xladjust.data.pair_filter import FilterStats, PairFilter

logger = logging.getLogger(__name__)

Link = tuple[int, int]

TRANSLATION_COLUMN = "translation"
"""The column of ``{"en": ..., LANG: ...}`` dicts of OPUS-style datasets (``Helsinki-NLP/opus-100``)."""
SENTENCE_TRANSFORMERS_COLUMNS = ("english", "non_english")
"""English column, then target column, of sentence-transformers' ``parallel-sentences-*`` datasets (WikiMatrix,
TED talks, Tatoeba, ...): two string columns."""


@dataclass
class AlignedPair:
    target: list[str]
    english: list[str]
    links: list[Link] = field(default_factory=list)


@dataclass
class ParallelSource:
    """Where one language's parallel data comes from: a file, or a dataset config; alignments optional."""

    language: str
    parallel_file: str | None = None
    alignment_file: str | None = None
    dataset_name: str | None = None
    dataset_config: str | None = None
    dataset_split: str = "train"
    columns: tuple[str, ...] = ()  # (): a known layout; (NAME,): a translation column; (ENGLISH, TARGET)

    def describe(self) -> str:
        if self.parallel_file is not None:
            return self.parallel_file
        return f"{self.dataset_name}:{self.dataset_config or ''}[{self.dataset_split}]"


@dataclass
class FilterSettings:
    max_words: int = 64
    one_to_one: bool = True
    filter_identical: bool = True


@dataclass
class CorpusStats:
    """Counts reported per language in the log and in ``adjustment_config.json``."""

    pairs_read: int = 0
    pairs_used: int = 0
    pairs_dropped_too_long: int = 0
    pairs_dropped_low_score: int = 0
    pairs_dropped_no_links: int = 0
    links_used: int = 0
    links_dropped_not_one_to_one: int = 0
    links_dropped_identical: int = 0
    links_dropped_truncated: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------------------------
# Reading


def _open_lines(path: str | Path) -> list[str]:
    if not os.path.isfile(path):
        raise InputError("file not found", path)
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def read_parallel_file(path: str | Path) -> list[AlignedPair]:
    """Read ``TARGET ||| ENGLISH`` lines (whitespace-tokenised) into pairs without links."""
    pairs = []
    for number, line in enumerate(_open_lines(path), start=1):
        sides = line.split("|||")
        if len(sides) != 2:
            found = "no '|||'" if len(sides) == 1 else f"{len(sides) - 1} separators '|||'"
            raise InputError(f"expected 'TARGET ||| ENGLISH' with one '|||', found {found}", path, number)
        target, english = sides[0].split(), sides[1].split()
        if not target or not english:
            side = "target (left)" if not target else "English (right)"
            raise InputError(
                f"the {side} side of the pair is empty; expected words on both sides of '|||'", path, number
            )
        pairs.append(AlignedPair(target, english))
    return pairs


def parse_pharaoh_line(line: str, path: str | Path, number: int, target_len: int, english_len: int) -> list[Link]:
    """Parse ``i-j i-j ...`` and check every index against the sentence lengths."""
    links = []
    for token in line.split():
        left, dash, right = token.partition("-")
        if not dash or not left.isdigit() or not right.isdigit():
            raise InputError(f"malformed link {token!r}; expected 'i-j' with non-negative integers", path, number)
        i, j = int(left), int(right)
        if i >= target_len or j >= english_len:
            raise InputError(
                f"link {token} is out of range: the target sentence has {target_len} words and the English "
                f"sentence {english_len} (indices are 0-based)",
                path,
                number,
            )
        links.append((i, j))
    return links


def read_alignment_file(path: str | Path, pairs: Sequence[AlignedPair], parallel_path: str | Path) -> None:
    """Attach the links of a Pharaoh file (one line per pair of ``parallel_path``) to ``pairs`` in place."""
    lines = _open_lines(path)
    if len(lines) != len(pairs):
        raise InputError(
            f"has {len(lines)} lines but the parallel file {parallel_path} has {len(pairs)}; "
            "expected one alignment line per sentence pair",
            path,
        )
    for number, (line, pair) in enumerate(zip(lines, pairs, strict=True), start=1):
        pair.links = parse_pharaoh_line(line, path, number, len(pair.target), len(pair.english))


def read_parallel_dataset(source: ParallelSource) -> list[AlignedPair]:
    """Load a dataset's parallel sentences (:func:`text_pairs`) and word-tokenise both sides.

    ``dataset_name`` is a Hub id, or a local folder: ``<folder>/<config>`` written by ``save_to_disk`` is read
    with ``load_from_disk``, anything else goes through ``load_dataset``.
    """
    import datasets

    local = os.path.join(source.dataset_name, source.dataset_config or "")
    if os.path.isdir(local) and (
        os.path.exists(os.path.join(local, "dataset_info.json"))
        or os.path.exists(os.path.join(local, "dataset_dict.json"))
    ):
        loaded = datasets.load_from_disk(local)
        if isinstance(loaded, datasets.DatasetDict):
            if source.dataset_split not in loaded:
                raise InputError(f"has no split {source.dataset_split!r} (splits: {list(loaded)})", local)
            loaded = loaded[source.dataset_split]
    else:
        hub = HubSource(source.dataset_name, source.dataset_config, source.dataset_split)
        loaded, _ = load_first(f"parallel data {source.language}-en", [hub])
    pairs = []
    for target_text, english_text in zip(*text_pairs(loaded, source), strict=True):
        target = word_tokenize(target_text or "", source.language)
        english = word_tokenize(english_text or "", "en")
        if target and english:
            pairs.append(AlignedPair(target, english))
    dropped = len(loaded) - len(pairs)
    if dropped:
        logger.warning("%s: dropped %d rows with an empty side", source.describe(), dropped)
    return pairs


def dataset_columns(source: ParallelSource, found: Sequence[str]) -> tuple[str, ...]:
    """The columns to read: ``source.columns`` (``{lang}`` filled in), else the first known layout ``found``
    has: a ``translation`` column, then sentence-transformers' ``english``/``non_english``."""
    if source.columns:
        columns = tuple(name.replace("{lang}", source.language) for name in source.columns)
    elif TRANSLATION_COLUMN in found:
        columns = (TRANSLATION_COLUMN,)
    elif set(SENTENCE_TRANSFORMERS_COLUMNS) <= set(found):
        columns = SENTENCE_TRANSFORMERS_COLUMNS
    else:
        raise InputError(
            f"has columns {list(found)}; expected a {TRANSLATION_COLUMN!r} column of {{'en': ..., "
            f"'{source.language}': ...}} or the two string columns 'english' and 'non_english', or name the "
            "columns: --parallel_columns ENGLISH TARGET",
            source.describe(),
        )
    missing = [name for name in columns if name not in found]
    if missing:
        raise InputError(f"has no column {missing[0]!r} (columns: {list(found)})", source.describe())
    return columns


def text_pairs(dataset: Any, source: ParallelSource) -> tuple[list[str | None], list[str | None]]:
    """``(target sentences, English sentences)`` of a loaded dataset, row by row: from a translation column
    (``{"en": ..., LANG: ...}`` per row) or from an English and a target string column (:func:`dataset_columns`).
    A missing sentence (None) is kept, and dropped later as an empty side."""
    columns = dataset_columns(source, dataset.column_names)
    if len(columns) == 1:
        translations = list(dataset[columns[0]])
        for row, translation in enumerate(translations):
            if not isinstance(translation, dict) or "en" not in translation or source.language not in translation:
                keys = sorted(translation) if isinstance(translation, dict) else type(translation).__name__
                raise InputError(
                    f"row {row}: {columns[0]!r} has keys {keys}; expected 'en' and {source.language!r}",
                    source.describe(),
                )
        return [t[source.language] for t in translations], [t["en"] for t in translations]
    english, target = list(dataset[columns[0]]), list(dataset[columns[1]])
    for name, texts in ((columns[0], english), (columns[1], target)):
        for row, text in enumerate(texts):
            if text is not None and not isinstance(text, str):
                raise InputError(
                    f"row {row}: column {name!r} holds {type(text).__name__}; expected a sentence (a string)",
                    source.describe(),
                )
    return target, english


def read_source(source: ParallelSource) -> list[AlignedPair]:
    if source.parallel_file is not None:
        pairs = read_parallel_file(source.parallel_file)
        if source.alignment_file is not None:
            read_alignment_file(source.alignment_file, pairs, source.parallel_file)
        return pairs
    if source.dataset_name is None:
        raise InputError(f"language {source.language!r} has neither a parallel file nor a dataset")
    if source.alignment_file is not None:
        raise InputError(
            "alignment files go with --parallel_files; datasets are aligned with eflomal", source.alignment_file
        )
    return read_parallel_dataset(source)


def write_parallel_file(path: str | Path, pairs: Iterable[AlignedPair]) -> None:
    write_lines(path, (f"{' '.join(pair.target)} ||| {' '.join(pair.english)}" for pair in pairs))


# ---------------------------------------------------------------------------------------------------------------
# Alignment


def _corpus_digest(pairs: Sequence[AlignedPair], symmetrization: str) -> str:
    digest = hashlib.sha256(symmetrization.encode())
    for pair in pairs:
        digest.update(("\t".join(pair.target) + "\n" + "\t".join(pair.english) + "\n").encode())
    return digest.hexdigest()


class WordAligner(Protocol):
    """An aligner besides eflomal (e.g. :class:`xladjust.data.embedding_alignment.SimAligner`)."""

    name: str

    def settings(self) -> dict[str, Any]: ...

    def align(self, targets: Sequence[Sequence[str]], englishes: Sequence[Sequence[str]]) -> list[list[Link]]: ...


def align_pairs(
    pairs: Sequence[AlignedPair],
    language: str,
    symmetrization: str,
    cache_dir: str | Path | None,
    aligner: WordAligner | None = None,
) -> None:
    """Align ``pairs`` in place with eflomal (or ``aligner``); reuse ``cache_dir/{lang}-en.align`` when it matches
    the corpus and the aligner's settings."""
    from xladjust.data.word_alignment import align_with_eflomal, write_pharaoh

    name = "eflomal" if aligner is None else aligner.name
    settings = {"symmetrization": symmetrization} if aligner is None else aligner.settings()
    digest = _corpus_digest(pairs, symmetrization if aligner is None else json.dumps(settings, sort_keys=True))
    cache = None if cache_dir is None else Path(cache_dir)
    if cache is not None:
        text_path, align_path = cache / f"{language}-en.txt", cache / f"{language}-en.align"
        meta_path = cache / f"{language}-en.json"
        if meta_path.exists() and align_path.exists() and json.loads(meta_path.read_text()).get("sha256") == digest:
            logger.info("%s: reusing the %s alignments in %s", language, name, align_path)
            read_alignment_file(align_path, pairs, text_path)
            return
    if aligner is None:
        logger.info("%s: aligning %d pairs with eflomal (%s)", language, len(pairs), symmetrization)
        alignments = align_with_eflomal([p.target for p in pairs], [p.english for p in pairs], symmetrization)
    else:
        logger.info("%s: aligning %d pairs with %s %s", language, len(pairs), name, settings)
        alignments = aligner.align([p.target for p in pairs], [p.english for p in pairs])
        logger.info("%s: %s found %d links", language, name, sum(map(len, alignments)))
    for pair, links in zip(pairs, alignments, strict=True):
        pair.links = list(links)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        write_parallel_file(text_path, pairs)
        write_pharaoh(align_path, alignments)
        meta = {"sha256": digest, **settings, "aligner": name, "pairs": len(pairs)}
        # Written last: its digest is what makes the other two files a cache hit.
        write_json(meta_path, meta)


# ---------------------------------------------------------------------------------------------------------------
# Filtering


def filter_links(pair: AlignedPair, settings: FilterSettings, stats: CorpusStats) -> list[Link]:
    """Keep 1-to-1 links between non-identical words, as the settings ask, counting what is dropped."""
    links = sorted(set(pair.links))
    if settings.one_to_one:
        target_degree = Counter(i for i, _ in links)
        english_degree = Counter(j for _, j in links)
        kept = [(i, j) for i, j in links if target_degree[i] == 1 and english_degree[j] == 1]
        stats.links_dropped_not_one_to_one += len(links) - len(kept)
        links = kept
    if settings.filter_identical:
        kept = [(i, j) for i, j in links if pair.target[i] != pair.english[j]]
        stats.links_dropped_identical += len(links) - len(kept)
        links = kept
    return links


def select_pairs(
    pairs: list[AlignedPair],
    settings: FilterSettings,
    stats: CorpusStats,
    seed: int,
    max_train_pairs: int | None,
    validation_pairs: int,
    keep: Callable[[list[AlignedPair], list[int]], list[int]] | None = None,
) -> tuple[list[AlignedPair], list[AlignedPair]]:
    """Drop over-long pairs, shuffle with ``seed``, split held-out pairs off, filter the rest with ``keep`` (the pair
    filter: given the pairs within ``max_words`` and the positions of the training candidates among them, the
    positions kept, in the order given), then sample the training pairs."""
    stats.pairs_read = len(pairs)
    kept = [p for p in pairs if len(p.target) <= settings.max_words and len(p.english) <= settings.max_words]
    stats.pairs_dropped_too_long = len(pairs) - len(kept)
    order = list(range(len(kept)))
    random.Random(seed).shuffle(order)  # the same permutation as shuffling the pairs themselves
    if validation_pairs >= len(kept) and validation_pairs > 0:
        raise InputError(f"--validation_pairs {validation_pairs} leaves no training pairs out of {len(kept)}")
    held_out, candidates = order[:validation_pairs], order[validation_pairs:]
    if keep is not None:
        chosen = keep(kept, candidates)
        stats.pairs_dropped_low_score = len(candidates) - len(chosen)
        candidates = chosen
    train = [kept[i] for i in candidates]
    if max_train_pairs is not None:
        train = train[:max_train_pairs]
    return train, [kept[i] for i in held_out]


def apply_link_filters(
    pairs: list[AlignedPair], settings: FilterSettings, stats: CorpusStats | None
) -> list[AlignedPair]:
    """Filter every pair's links and drop pairs left without any (counted when ``stats`` is given)."""
    counter = stats if stats is not None else CorpusStats()
    result = []
    for pair in pairs:
        links = filter_links(pair, settings, counter)
        if links:
            result.append(AlignedPair(pair.target, pair.english, links))
    counter.pairs_dropped_no_links += len(pairs) - len(result)
    return result


@dataclass
class LanguageCorpus:
    language: str
    train: list[AlignedPair]
    held_out: list[AlignedPair]
    stats: CorpusStats
    held_out_stats: CorpusStats
    filter_stats: FilterStats | None = None  # with --filter_model
    dictionary_stats: DictionaryStats | None = None  # with --aligner dictionary

    def describe(self) -> str:
        """One model-card line: pairs and links used, and how the pair filter and the dictionary contributed."""
        text = f"{self.language}: {self.stats.pairs_used} pairs, {self.stats.links_used} word links"
        notes = []
        if self.filter_stats is not None and self.filter_stats.lowest_kept_score is not None:
            kept, scored = self.filter_stats.pairs_kept, self.filter_stats.pairs_scored
            notes.append(
                f"{kept} of {scored} pairs kept by the pair filter, cosine ≥ {self.filter_stats.lowest_kept_score:.3f}"
            )
        if self.dictionary_stats is not None:
            notes.append(f"links from a dictionary of {self.dictionary_stats.entries} entries")
        return text + (f" ({'; '.join(notes)})" if notes else "")

    def report(self) -> dict[str, Any]:
        """The counts of ``adjustment_config.json``'s ``data`` entry of this language."""
        report: dict[str, Any] = {"train": self.stats.as_dict(), "held_out": self.held_out_stats.as_dict()}
        if self.filter_stats is not None:
            report["filter"] = self.filter_stats.as_dict()
        if self.dictionary_stats is not None:
            report["dictionary"] = self.dictionary_stats.as_dict()
        return report

    def metrics(self) -> dict[str, float]:
        """The filter's and dictionary's counts as ``all_results.json`` numbers (``filter_es_pairs_kept``, ...)."""
        metrics = {} if self.filter_stats is None else self.filter_stats.flat(f"filter_{self.language}")
        if self.dictionary_stats is not None:
            metrics.update({f"dictionary_{self.language}_{k}": v for k, v in self.dictionary_stats.as_dict().items()})
        return metrics


def load_language_corpus(
    source: ParallelSource,
    settings: FilterSettings,
    *,
    seed: int,
    max_train_pairs: int | None = None,
    validation_pairs: int = 0,
    symmetrization: str = "intersect",
    alignment_cache_dir: str | Path | None = None,
    aligner: WordAligner | None = None,
    pair_filter: PairFilter | None = None,
) -> LanguageCorpus:
    """Read, split, filter by score (with ``pair_filter``), align (when no alignment file is given) and filter the
    links of one language's parallel data."""
    pairs = read_source(source)
    stats = CorpusStats()
    filtered: list[FilterStats] = []

    def keep(kept: list[AlignedPair], candidates: list[int]) -> list[int]:
        chosen, filter_stats = pair_filter.select(
            pair_filter.scores(kept, source.language, alignment_cache_dir), candidates
        )
        logger.info("%s: pair filter %s", source.language, filter_stats.as_dict())
        filtered.append(filter_stats)
        return chosen

    train, held_out = select_pairs(
        pairs, settings, stats, seed, max_train_pairs, validation_pairs, None if pair_filter is None else keep
    )
    if source.alignment_file is None:
        align_pairs(train + held_out, source.language, symmetrization, alignment_cache_dir, aligner)
    held_out_stats = CorpusStats(pairs_read=len(held_out))
    train = apply_link_filters(train, settings, stats)
    held_out = apply_link_filters(held_out, settings, held_out_stats)
    dictionary_stats = aligner.stats if isinstance(aligner, DictionaryAligner) and not source.alignment_file else None
    return LanguageCorpus(
        source.language, train, held_out, stats, held_out_stats, filtered[0] if filtered else None, dictionary_stats
    )


def build_sources(
    languages: Sequence[str],
    parallel_files: Sequence[str] | None,
    alignment_files: Sequence[str] | None,
    dataset_name: str | None,
    dataset_configs: Sequence[str] | None,
    dataset_split: str = "train",
    columns: Sequence[str] = (),
) -> list[ParallelSource]:
    """Match the per-language flags (``--parallel_files``, ``--alignment_files``, ...) to ``--languages``."""
    if not languages:
        raise InputError("--languages is empty; expected one or more target-language codes, e.g. --languages es ru")
    if len(set(languages)) != len(languages):
        raise InputError(f"--languages repeats a language: {list(languages)}")
    if "en" in languages:
        raise InputError("--languages lists target languages; English is always the other side")

    def per_language(values: Sequence[str] | None, flag: str) -> list[str | None]:
        if not values:
            return [None] * len(languages)
        if len(values) != len(languages):
            raise InputError(f"{flag} has {len(values)} values for {len(languages)} languages {list(languages)}")
        return list(values)

    files = per_language(parallel_files, "--parallel_files")
    alignments = per_language(alignment_files, "--alignment_files")
    if dataset_name is None and not parallel_files:
        raise InputError("no parallel data: give --parallel_files or --parallel_dataset_name")
    if dataset_name is not None and parallel_files:
        raise InputError("give either --parallel_files or --parallel_dataset_name, not both")
    if columns and dataset_name is None:
        raise InputError("--parallel_columns names the columns of a dataset; give --parallel_dataset_name too")
    if len(columns) > 2:
        raise InputError(
            f"--parallel_columns takes ENGLISH TARGET (two columns) or one translation column, not {list(columns)}"
        )
    configs = per_language(dataset_configs, "--parallel_dataset_config_names")
    if dataset_name is not None and not dataset_configs:
        configs = [default_config_name(lang, dataset_name) for lang in languages]
    return [
        ParallelSource(
            language=lang,
            parallel_file=file,
            alignment_file=alignment,
            dataset_name=dataset_name,
            dataset_config=config,
            dataset_split=dataset_split,
            columns=tuple(columns),
        )
        for lang, file, alignment, config in zip(languages, files, alignments, configs, strict=True)
    ]


def sources_and_filters(data_args: Any, alignments: bool = True) -> tuple[list[ParallelSource], FilterSettings]:
    """The sources and filter settings of :class:`~xladjust.data.parallel_arguments.ParallelDataArguments`;
    ``alignments=False`` reads the sentences alone (no alignment file, so nothing is aligned)."""
    sources = build_sources(
        data_args.languages,
        data_args.parallel_files,
        data_args.alignment_files if alignments else None,
        data_args.parallel_dataset_name,
        data_args.parallel_dataset_config_names,
        data_args.parallel_dataset_split,
        data_args.parallel_columns,
    )
    return sources, FilterSettings(data_args.max_words, data_args.one_to_one, data_args.filter_identical)


def load_parallel_corpora(
    data_args: Any,
    seed: int,
    alignment_cache_dir: str | Path | None,
    aligner: WordAligner | Mapping[str, WordAligner] | None = None,
    device: str | Any = "cpu",
    model_kwargs: dict[str, Any] | None = None,
) -> list[LanguageCorpus]:
    """Every language of :class:`~xladjust.data.parallel_arguments.ParallelDataArguments`, read, split, filtered by
    score (``--filter_model``, on ``device``, loaded with ``model_kwargs``), aligned (with eflomal, or ``aligner``:
    one for every language, or one per language) and filtered."""
    from xladjust.data.pair_filter import build_pair_filter

    sources, settings = sources_and_filters(data_args)
    pair_filter = build_pair_filter(data_args, device, model_kwargs)
    corpora = []
    for source in sources:
        corpus = load_language_corpus(
            source,
            settings,
            seed=seed,
            max_train_pairs=data_args.max_train_pairs,
            validation_pairs=data_args.validation_pairs,
            symmetrization=data_args.symmetrization,
            alignment_cache_dir=alignment_cache_dir,
            aligner=aligner.get(source.language) if isinstance(aligner, Mapping) else aligner,
            pair_filter=pair_filter,
        )
        if not corpus.train:
            raise InputError(
                f"no training pair of {source.language!r} keeps a word link after filtering", source.describe()
            )
        corpora.append(corpus)
    return corpora


def write_held_out(corpora: Sequence[LanguageCorpus], folder: str | Path) -> list[Path]:
    """Save the held-out pairs with their (filtered) links, for run_analysis.py and other evaluations."""
    from xladjust.data.word_alignment import write_pharaoh

    folder = Path(folder)
    written = []
    for corpus in corpora:
        if corpus.held_out:
            folder.mkdir(parents=True, exist_ok=True)
            text = folder / f"{corpus.language}-en.txt"
            write_parallel_file(text, corpus.held_out)
            write_pharaoh(folder / f"{corpus.language}-en.align", [pair.links for pair in corpus.held_out])
            written.append(text)
    return written

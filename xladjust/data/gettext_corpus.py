"""Parallel corpus from the gettext catalogs of a machine: English UI messages and their translations.

Every ``<search_path>/<locale>/LC_MESSAGES/*.mo`` of a language gives (msgid = English, msgstr = translation)
pairs; they are cleaned, de-duplicated, split into train / held-out and written as ``TARGET ||| ENGLISH``
lines that :func:`xladjust.data.parallel.read_parallel_file` reads.

Choices (each dropped entry is counted under the first rule it fails, in this order, see ``DROP_REASONS``):

* Locale directories: language ``es`` reads ``es`` and every territory variant ``es_*`` (``es_ES``, ``es_AR``);
  ``pt_BR`` reads only ``pt_BR``. Modifier directories (``sr@latin``, ``ca@valencia``) are a different script
  or norm, so they are read only when asked for by name (``--languages sr@latin``).
* ``plural``: plural entries are dropped. Form 0 of msgstr is not the English singular in general (with one form,
  as in Vietnamese, it is the form for every number), and nearly all of them hold a number placeholder anyway.
* Context entries (msgid ``"context\\x04message"``) keep the message and lose the context.
* ``empty_translation``: empty msgstr (also when nothing is left after accelerator stripping). A .mo file has no
  fuzzy flag: ``msgfmt`` leaves fuzzy and untranslated entries out unless told otherwise, so nothing else to drop.
* ``newline_or_tab``: newlines, tabs and any other control or line-separator character (the reader splits lines
  on more than ``\\n``); these are help texts and layouts rather than sentences.
* ``markup``: tags (``<b>``, ``</span>``, ``<name>``) and character entities (``&amp;``).
* ``placeholder``: printf (``%s``, ``%1$s``, ``%-5.2f``, ``%%``; ``%`` right before any letter, as BFD's ``%B``),
  Python (``%(name)s``), Qt (``%1``), brace (``{0}``, ``{name}``, ``{}``), shell (``$VAR``, ``${VAR}``, ``$1``) and
  autoconf (``@VAR@``) placeholders.
* ``separator``: ``|||``, which would split the output line.
* Accelerators are stripped: ``(_F)`` / ``(&F)`` suffixes; Qt ``&`` before a letter or digit (``&&`` is a literal
  ``&``); GTK ``_`` when it is the only underscore of the message and is followed by a letter or digit, at a word
  start (``_File``) or inside a word (``Op_en``, ``Ay_uda``: common in GTK catalogs), the latter only when the other
  side has a mnemonic too and the message looks like a label: no lowercase first letter, no final full stop (GTK
  labels are capitalised and have none, the technical messages that hold identifiers such as ``column_name`` do).
  A marker inside a word that the other side copies (``lo_read``, ``AT&T``, case aside) is never an accelerator.
* ``identifier``: an underscore left touching a letter or digit (``file_name``, ``KP_Delete``) after stripping.
* ``identical``: msgstr equal to msgid after cleaning (untranslated copies, names).
* ``too_short``: fewer than ``min_words`` tokens with a letter on either side (numbers and punctuation do not
  count), after word tokenisation with :func:`xladjust.data.text.word_tokenize` (sacremoses where it knows the
  language, whitespace otherwise, as for Vietnamese).
* ``duplicate``: the same tokenised pair again (any catalog). ``conflicting_translation``: the English side already
  has another translation. The translation kept for an English message is the one seen most often across the
  language's catalogs, ties going to the lexicographically first, so the choice does not depend on reading order.

Split: a pair is held out when ``sha256(f"{seed}\\x00{english}")`` (its first 8 bytes as a fraction of 2**64) is
below ``heldout_fraction``. It depends on the tokenised English side alone, so adding catalogs never moves a pair
between train and held-out, and an English message held out in one language is never trained on in another. A
fixed held-out *count* cannot have that property (a new pair could push another one out), hence only a fraction.
Lines are written in hash order (a shuffle that is stable under additions).

``manifest.json`` records the settings and, per language, the locale directories, every catalog read with its
entries and its pairs (those that pass the per-entry rules, before de-duplication), unreadable catalogs (skipped
with a warning), every drop count, and the final train / held-out counts.

The output folder is a run folder like the scripts' (``run.json``, :mod:`xladjust.run_folder`, docs/run_folders.md):
its settings are the options above, with the catalogs found under each search path as a content fingerprint. A
rerun with the same settings and catalogs is a no-op that says so; an interrupted build is built again; other
settings (or catalogs that changed) are refused unless ``--overwrite_output_dir`` (alias ``--overwrite``).

    python -m xladjust.data.gettext_corpus --output_dir corpus --languages es ru vi hi
"""

from __future__ import annotations

import argparse
import codecs
import hashlib
import logging
import re
import struct
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from xladjust.cli import configure_logging, run_main
from xladjust.data.languages import PAPER_LANGUAGES
from xladjust.data.text import word_tokenize
from xladjust.errors import InputError
from xladjust.io import write_json, write_lines
from xladjust.run_folder import fingerprint, start_run

logger = logging.getLogger(__name__)

DEFAULT_SEARCH_PATHS = ("/usr/share/locale",)
DEFAULT_HELDOUT_FRACTION = 0.1
DEFAULT_SEED = 0
DEFAULT_MIN_WORDS = 3
MANIFEST_NAME = "manifest.json"
RUN_SCRIPT = "python -m xladjust.data.gettext_corpus"

ENTRY_DROP_REASONS = (
    "plural",
    "empty_translation",
    "newline_or_tab",
    "markup",
    "placeholder",
    "separator",
    "identifier",
    "identical",
    "too_short",
)
DROP_REASONS = ENTRY_DROP_REASONS + ("duplicate", "conflicting_translation")

_MO_MAGIC = 0x950412DE


# ---------------------------------------------------------------------------------------------------------------
# Reading .mo files


@dataclass(frozen=True)
class MoEntry:
    """One catalog message. ``msgstr`` is the first form; ``msgstr_forms`` has all of them for plural entries."""

    msgid: str
    msgstr: str
    context: str | None = None
    msgid_plural: str | None = None
    msgstr_forms: tuple[str, ...] = ()

    @property
    def is_plural(self) -> bool:
        return self.msgid_plural is not None


def _charset(header: str) -> str:
    match = re.search(r"charset=([^\s;]+)", header, flags=re.IGNORECASE)
    # Catalogs made from an unfilled template say "charset=CHARSET"; msgfmt writes UTF-8 then.
    if match is None or match.group(1).upper() == "CHARSET":
        return "utf-8"
    return match.group(1)


def read_mo(path: str | Path) -> list[MoEntry]:
    """Parse a GNU .mo file (either byte order) into its entries, without the header entry (msgid "").

    Only the main string tables are read: the system-dependent strings of revision 1 (``<PRIu64>``) are format
    strings, which the corpus drops anyway. Raises :class:`InputError` for anything that is not a valid catalog.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the catalog: {error.strerror or error}", path) from None
    if len(data) < 20:
        raise InputError(f"not a gettext .mo file: {len(data)} bytes is shorter than the header", path)
    for order in ("<", ">"):
        if struct.unpack(f"{order}I", data[:4])[0] == _MO_MAGIC:
            break
    else:
        raise InputError(f"not a gettext .mo file: magic number 0x{data[:4].hex()}, expected 950412de", path)
    revision, count, originals, translations = struct.unpack(f"{order}4I", data[4:20])
    if revision >> 16 not in (0, 1):
        raise InputError(f"unsupported .mo format revision {revision >> 16}.{revision & 0xFFFF}", path)

    def string(table: int, index: int) -> bytes:
        where = table + 8 * index
        if where + 8 > len(data):
            raise InputError(f"entry {index}: the string table runs past the end of the file", path)
        length, offset = struct.unpack(f"{order}2I", data[where : where + 8])
        if offset + length > len(data):
            raise InputError(f"entry {index}: its string runs past the end of the file", path)
        return data[offset : offset + length]

    raw = [(string(originals, i), string(translations, i)) for i in range(count)]
    charset = "utf-8"
    for msgid, msgstr in raw:
        if msgid == b"":
            charset = _charset(msgstr.decode("ascii", errors="replace"))
    try:
        codecs.lookup(charset)
    except LookupError:
        raise InputError(f"the header names an unknown charset {charset!r}", path) from None

    entries = []
    for index, (raw_id, raw_str) in enumerate(raw):
        if raw_id == b"":
            continue
        try:
            msgid, msgstr = raw_id.decode(charset), raw_str.decode(charset)
        except UnicodeDecodeError:
            raise InputError(f"entry {index} is not valid {charset}, the charset the header names", path) from None
        context = None
        if "\x04" in msgid:
            context, msgid = msgid.split("\x04", 1)
        singular, has_plural, plural = msgid.partition("\x00")
        forms = tuple(msgstr.split("\x00"))
        entries.append(
            MoEntry(singular, forms[0], context, plural if has_plural else None, forms if has_plural else ())
        )
    return entries


# ---------------------------------------------------------------------------------------------------------------
# Cleaning

_PLACEHOLDER = re.compile(
    r"%(?:\d+\$)?[-+#0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|ll|I64|I32|[hlLqjzt])?[A-Za-z%]"  # printf, BFD %B
    r"|%\([^)\s]+\)[-+#0 ]*\d*(?:\.\d+)?[a-zA-Z]"  # Python %(name)s
    r"|%\d"  # Qt / KDE %1
    r"|\{[^{}\s]*\}"  # {0}, {name}, {}, {0:.2f}
    r"|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\$\d"  # $VAR, ${VAR}, $1
    r"|@[A-Za-z_][A-Za-z0-9_]*@"  # autoconf @VAR@
)
_MARKUP = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>|&(?:[A-Za-z][A-Za-z0-9]*|#\d+|#[xX][0-9A-Fa-f]+);")
_BRACKETED_ACCELERATOR = re.compile(r"\s*\((?:_|&)[^\W_]\)")
_UNDERSCORE_IN_WORD = re.compile(r"(?<=[^\W_])_|_(?=[^\W_])")
_LINE_BREAKS = frozenset("\u2028\u2029")


def message_problem(text: str) -> str | None:
    """The drop reason of one side before accelerator stripping, or None (reasons in ``DROP_REASONS`` order)."""
    if any(char in _LINE_BREAKS or unicodedata.category(char) == "Cc" for char in text):
        return "newline_or_tab"
    if _MARKUP.search(text):
        return "markup"
    if _PLACEHOLDER.search(text):
        return "placeholder"
    if "|||" in text:
        return "separator"
    return None


def _words(text: str) -> set[str]:
    return {word.casefold() for word in re.findall(r"[\w&]+", text)}


def _word_at(text: str, position: int) -> str:
    """The run of word characters (and ``&``) around ``position``, casefolded: what a copied identifier shares."""
    start, end = position, position + 1
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_&"):
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] in "_&"):
        end += 1
    return text[start:end].casefold()


def _underscore_mnemonic(text: str, other_words: set[str]) -> int | None:
    """Where a GTK mnemonic underscore could be: the only ``_``, before a letter or digit, not in a copied word."""
    underscore = text.find("_")
    if text.count("_") != 1 or not text[underscore + 1 : underscore + 2].isalnum():
        return None
    return None if _word_at(text, underscore) in other_words else underscore


def has_accelerator(text: str) -> bool:
    """Whether a raw message carries a mnemonic: ``(_F)``, one ``_`` before a letter, or ``&`` before a letter."""
    return bool(
        _BRACKETED_ACCELERATOR.search(text)
        or _underscore_mnemonic(text, set()) is not None
        or re.search(r"(?<!&)&(?=[^\W_])", text)
    )


def strip_accelerators(text: str, other_side: str = "") -> str:
    """Remove GTK ``_`` and Qt ``&`` mnemonics (rules in the module docstring); ``other_side`` is the raw other side.

    An underscore inside a word is stripped only when the other side has a mnemonic too and the message looks like
    a GTK label (no lowercase first letter, no final full stop), unlike the technical messages that hold identifiers.
    """
    other_words = _words(other_side)
    text = _BRACKETED_ACCELERATOR.sub("", text)
    underscore = _underscore_mnemonic(text, other_words)
    if underscore is not None:
        at_word_start = underscore == 0 or not text[underscore - 1].isalnum()
        first_letter = next((char for char in text if char.isalpha()), "")
        label = not first_letter.islower() and not text.rstrip().endswith(".")
        if at_word_start or (label and has_accelerator(other_side)):
            text = text[:underscore] + text[underscore + 1 :]

    def ampersand(match: re.Match[str]) -> str:
        if match.group() == "&&":
            return "&"
        return "&" if _word_at(match.string, match.start()) in other_words else ""

    return re.sub(r"&&|&(?=[^\W_])", ampersand, text)


def normalize_space(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def clean_message(text: str, other_side: str = "") -> tuple[str | None, str | None]:
    """Clean one side of a pair: ``(cleaned text, None)``, or ``(None, drop reason)``.

    ``other_side`` is the raw other side of the pair; it tells copied identifiers from accelerators.
    """
    reason = message_problem(text)
    if reason is not None:
        return None, reason
    text = normalize_space(strip_accelerators(text, other_side))
    if not text:
        return None, "empty_translation"
    if _UNDERSCORE_IN_WORD.search(text):
        return None, "identifier"
    return text, None


def letter_tokens(tokens: Sequence[str]) -> int:
    return sum(any(char.isalpha() for char in token) for token in tokens)


def tokenizer_language(language: str) -> str:
    """``pt_BR`` → ``pt``, ``sr@latin`` → ``sr``: the language sacremoses is asked for."""
    return re.split(r"[_.@]", language, maxsplit=1)[0]


def clean_entry(
    entry: MoEntry, language: str, min_words: int = DEFAULT_MIN_WORDS
) -> tuple[tuple[list[str], list[str]] | None, str | None]:
    """Apply every per-entry rule: ``((target tokens, English tokens), None)`` or ``(None, drop reason)``."""
    if entry.is_plural:
        return None, "plural"
    if not entry.msgstr.strip():
        return None, "empty_translation"
    english, english_problem = clean_message(entry.msgid, entry.msgstr)
    target, target_problem = clean_message(entry.msgstr, entry.msgid)
    if english is None or target is None:
        # Report the earlier rule when the two sides fail different ones, so the counts follow DROP_REASONS.
        reasons = [reason for reason in (english_problem, target_problem) if reason is not None]
        return None, min(reasons, key=DROP_REASONS.index)
    if english == target:
        return None, "identical"
    target_tokens = word_tokenize(target, tokenizer_language(language))
    english_tokens = word_tokenize(english, "en")
    if letter_tokens(target_tokens) < min_words or letter_tokens(english_tokens) < min_words:
        return None, "too_short"
    return (target_tokens, english_tokens), None


# ---------------------------------------------------------------------------------------------------------------
# Catalogs, split, corpus


def _locale_matches(directory: str, language: str) -> bool:
    wanted, _, wanted_modifier = language.partition("@")
    name, _, modifier = directory.partition("@")
    name = name.split(".", 1)[0]  # a codeset suffix (de_DE.UTF-8) does not make another language
    return modifier == wanted_modifier and (name == wanted or name.startswith(wanted + "_"))


def find_catalogs(language: str, search_paths: Sequence[str | Path]) -> list[Path]:
    """All ``<search_path>/<locale>/LC_MESSAGES/*.mo`` of a language, sorted, each real file once."""
    found: dict[Path, Path] = {}
    for search_path in search_paths:
        root = Path(search_path)
        if not root.is_dir():
            continue
        for locale_dir in sorted(root.iterdir()):
            if _locale_matches(locale_dir.name, language):
                for catalog in sorted((locale_dir / "LC_MESSAGES").glob("*.mo")):
                    found.setdefault(catalog.resolve(), catalog)
    return list(found.values())


def searched_patterns(language: str, search_paths: Sequence[str | Path]) -> list[str]:
    """The glob patterns :func:`find_catalogs` covers, for error messages."""
    name, at, modifier = language.partition("@")
    variants = (language, f"{name}_*{at}{modifier}")
    return [str(Path(path) / variant / "LC_MESSAGES" / "*.mo") for path in search_paths for variant in variants]


def split_point(english: str, seed: int = DEFAULT_SEED) -> float:
    """A number in [0, 1) fixed by the English side and the seed alone."""
    digest = hashlib.sha256(f"{seed}\x00{english}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_heldout(english: str, heldout_fraction: float, seed: int = DEFAULT_SEED) -> bool:
    return split_point(english, seed) < heldout_fraction


@dataclass
class CatalogPairs:
    """The cleaned, de-duplicated pairs of one language's catalogs, and its entry of ``manifest.json``."""

    pairs: list[tuple[str, str]]  # (target, English), tokens joined by single spaces
    manifest: dict


def collect_language(language: str, catalogs: Sequence[Path], min_words: int = DEFAULT_MIN_WORDS) -> CatalogPairs:
    """Read, clean and de-duplicate the pairs of one language's catalogs."""
    drops = Counter({reason: 0 for reason in DROP_REASONS})
    seen: Counter[tuple[str, str]] = Counter()
    catalog_counts, unreadable = [], []
    entries_total = 0
    for catalog in catalogs:
        try:
            entries = read_mo(catalog)
        except InputError as error:
            logger.warning("skipping an unreadable catalog: %s", error)
            unreadable.append({"path": str(catalog), "error": error.message})
            continue
        pairs = 0
        for entry in entries:
            cleaned, reason = clean_entry(entry, language, min_words)
            if cleaned is None:
                drops[reason] += 1
                continue
            pairs += 1
            seen[" ".join(cleaned[0]), " ".join(cleaned[1])] += 1
        entries_total += len(entries)
        catalog_counts.append({"path": str(catalog), "entries": len(entries), "pairs": pairs})

    by_english: dict[str, list[tuple[int, str]]] = {}
    for (target, english), count in seen.items():
        drops["duplicate"] += count - 1
        by_english.setdefault(english, []).append((-count, target))
    kept = []
    for english, candidates in by_english.items():
        drops["conflicting_translation"] += len(candidates) - 1
        kept.append((min(candidates)[1], english))
    manifest = {
        "catalogs": catalog_counts,
        "unreadable_catalogs": unreadable,
        "entries": entries_total,
        "dropped": dict(drops),
        "pairs": len(kept),
    }
    return CatalogPairs(kept, manifest)


def catalog_fingerprints(languages: Sequence[str], search_paths: Sequence[str]) -> list[dict[str, str]]:
    """Per search path, a sha256 of the names and contents of the catalogs of ``languages`` under it: the run
    record's inputs, so that a rerun after the machine's catalogs changed builds the corpus again."""
    inputs = []
    for search_path in search_paths:
        catalogs = sorted({catalog for language in languages for catalog in find_catalogs(language, [search_path])})
        digest = hashlib.sha256()
        for catalog in catalogs:
            digest.update(f"{catalog.relative_to(search_path)}\0{fingerprint(str(catalog))}\0".encode())
        inputs.append({"path": search_path, "sha256": digest.hexdigest()})
    return inputs


def build_corpus(
    languages: Sequence[str],
    output_dir: str | Path,
    search_paths: Sequence[str | Path] = DEFAULT_SEARCH_PATHS,
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION,
    seed: int = DEFAULT_SEED,
    min_words: int = DEFAULT_MIN_WORDS,
    overwrite: bool = False,
) -> dict:
    """Write ``{lang}-en.train.txt``, ``{lang}-en.heldout.txt`` and ``manifest.json``; return the manifest.

    Settings and catalogs of every language are checked before anything is written. ``output_dir`` is a run
    folder (``run.json``, :mod:`xladjust.run_folder`): a finished build with the same settings and catalogs is
    returned untouched, an unfinished one is built again, another one is refused unless ``overwrite``.
    """
    languages = list(dict.fromkeys(languages))
    if not languages:
        raise InputError("no languages given")
    for language in languages:
        if not re.fullmatch(r"[A-Za-z]{2,3}(?:_[A-Za-z0-9]+)?(?:@[A-Za-z0-9]+)?", language):
            raise InputError(f"{language!r} is not a locale name such as es, pt_BR or sr@latin")
    if not 0.0 <= heldout_fraction <= 1.0:
        raise InputError(f"the held-out fraction must be between 0 and 1, got {heldout_fraction}")
    if min_words < 1:
        raise InputError(f"the minimum number of words must be at least 1, got {min_words}")
    search_paths = [str(path) for path in search_paths]
    if not search_paths:
        raise InputError("no search paths given")
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError("the output directory is a file", output_dir)

    catalogs = {language: find_catalogs(language, search_paths) for language in languages}
    missing = [language for language in languages if not catalogs[language]]
    if missing:
        searched = "; ".join(
            f"{language}: {', '.join(searched_patterns(language, search_paths))}" for language in missing
        )
        raise InputError(f"no gettext catalogs (.mo files) found for {', '.join(missing)}; searched {searched}")

    inputs = {
        "languages": languages,
        "search_paths": catalog_fingerprints(languages, search_paths),
        "heldout_fraction": heldout_fraction,
        "seed": seed,
        "min_words": min_words,
    }
    run = start_run(RUN_SCRIPT, [inputs], str(output_dir), overwrite=overwrite, results_file=MANIFEST_NAME)
    if run.finished:
        return run.results
    settings = {
        "languages": languages,
        "search_paths": search_paths,
        "heldout_fraction": heldout_fraction,
        "seed": seed,
        "min_words": min_words,
        "split": "held out when sha256(f'{seed}\\x00{english}')[:8] / 2**64 < heldout_fraction",
        "format": "TARGET ||| ENGLISH, tokens of xladjust.data.text.word_tokenize joined by single spaces",
    }
    manifest: dict = {"settings": settings, "languages": {}}
    outputs: dict[str, tuple[list[str], list[str]]] = {}
    for language in languages:
        started = time.perf_counter()
        corpus = collect_language(language, catalogs[language], min_words)
        ordered = sorted(corpus.pairs, key=lambda pair: (split_point(pair[1], seed), pair[1]))
        train, heldout = [], []
        for target, english in ordered:
            (heldout if is_heldout(english, heldout_fraction, seed) else train).append(f"{target} ||| {english}")
        outputs[language] = (train, heldout)
        entry = corpus.manifest
        entry["locale_dirs"] = sorted({str(Path(item["path"]).parent.parent) for item in entry["catalogs"]})
        entry.update(
            train=len(train),
            heldout=len(heldout),
            files={"train": f"{language}-en.train.txt", "heldout": f"{language}-en.heldout.txt"},
        )
        manifest["languages"][language] = entry
        dropped = ", ".join(f"{reason} {count}" for reason, count in entry["dropped"].items() if count)
        logger.info(
            "%s: %d catalogs, %d entries -> %d pairs (train %d, held-out %d) in %.1fs; dropped: %s",
            *(language, len(entry["catalogs"]), entry["entries"], entry["pairs"], len(train), len(heldout)),
            *(time.perf_counter() - started, dropped or "none"),
        )

    for language, (train, heldout) in outputs.items():
        files = manifest["languages"][language]["files"]
        write_lines(output_dir / files["train"], train)
        write_lines(output_dir / files["heldout"], heldout)
    write_json(output_dir / MANIFEST_NAME, manifest, sort_keys=False)
    run.finish()
    logger.info("wrote %s", output_dir)
    return manifest


# ---------------------------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m xladjust.data.gettext_corpus",
        description="Build TARGET ||| ENGLISH corpora from the gettext catalogs (.mo) of this machine.",
    )
    parser.add_argument("--languages", nargs="+", default=list(PAPER_LANGUAGES), help="locale names (es pt_BR)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--search_paths", nargs="+", default=list(DEFAULT_SEARCH_PATHS))
    parser.add_argument("--heldout_fraction", type=float, default=DEFAULT_HELDOUT_FRACTION)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="changes which English messages are held out")
    parser.add_argument("--min_words", type=int, default=DEFAULT_MIN_WORDS, help="tokens with a letter, per side")
    parser.add_argument(
        "--overwrite_output_dir",
        "--overwrite",
        dest="overwrite",
        action="store_true",
        help="start again from scratch in an output directory that holds another build (or other files)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    """Command line: build the corpus; a mistake raises :class:`InputError` (one line and exit 2 from ``run_main``)."""
    args = parse_args(argv)
    configure_logging()
    return build_corpus(
        args.languages,
        args.output_dir,
        search_paths=args.search_paths,
        heldout_fraction=args.heldout_fraction,
        seed=args.seed,
        min_words=args.min_words,
        overwrite=args.overwrite,
    )


if __name__ == "__main__":
    run_main(main)

"""Language lists of the study and of the evaluation sets."""

from __future__ import annotations

from collections.abc import Sequence

from xladjust.errors import InputError

PARALLEL_DATASET = "sentence-transformers/parallel-sentences-wikimatrix"
"""The paper's parallel corpus, WikiMatrix, as sentence-transformers publish it: parquet, one config ``en-LANG`` per
language (:data:`PARALLEL_CONFIG_TEMPLATE`), splits ``train`` and ``dev``, string columns ``english`` and
``non_english`` (evidence in docs/run_adjust.md)."""
PARALLEL_CONFIG_TEMPLATE = "en-{lang}"
"""The config of a language in :data:`PARALLEL_DATASET` (``en-es``, ``en-ar``: English always first)."""
OPUS100_DATASET = "Helsinki-NLP/opus-100"
"""The documented alternative: OPUS-100, configs named by :func:`default_config_name`, a ``translation`` column."""

PAPER_LANGUAGES = ("es", "ru", "vi", "hi")
"""Target languages of Efimov et al.: Spanish, Russian, Vietnamese, Hindi (English is the source)."""

XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")

# fmt: off
WIKIANN_LANGUAGES = (
    "ace", "af", "als", "am", "an", "ang", "ar", "arc", "arz", "as", "ast", "ay", "az", "ba", "bar", "bat-smg",
    "be", "be-x-old", "bg", "bh", "bn", "bo", "br", "bs", "ca", "cbk-zam", "cdo", "ce", "ceb", "ckb", "co", "crh",
    "cs", "csb", "cv", "cy", "da", "de", "diq", "dv", "el", "eml", "en", "eo", "es", "et", "eu", "ext", "fa", "fi",
    "fiu-vro", "fo", "fr", "frr", "fur", "fy", "ga", "gan", "gd", "gl", "gn", "gu", "hak", "he", "hi", "hr", "hsb",
    "hu", "hy", "ia", "id", "ig", "ilo", "io", "is", "it", "ja", "jbo", "jv", "ka", "kk", "km", "kn", "ko", "ksh",
    "ku", "ky", "la", "lb", "li", "lij", "lmo", "ln", "lt", "lv", "map-bms", "mg", "mhr", "mi", "min", "mk", "ml",
    "mn", "mr", "ms", "mt", "mwl", "my", "mzn", "nap", "nds", "ne", "nl", "nn", "no", "nov", "oc", "or", "os", "pa",
    "pdc", "pl", "pms", "pnb", "ps", "pt", "qu", "rm", "ro", "ru", "rw", "sa", "sah", "scn", "sco", "sd", "sh", "si",
    "simple", "sk", "sl", "so", "sq", "sr", "su", "sv", "sw", "szl", "ta", "te", "tg", "th", "tk", "tl", "tr", "tt",
    "ug", "uk", "ur", "uz", "vec", "vep", "vi", "vls", "vo", "wa", "war", "wuu", "xmf", "yi", "yo", "zea", "zh",
    "zh-classical", "zh-min-nan", "zh-yue",
)
# fmt: on
"""The 176 configurations of WikiANN (``unimelb-nlp/wikiann``, the balanced splits of Rahimi et al., 2019)."""


def default_config_name(language: str) -> str:
    """OPUS-style config of the language paired with English: the two codes in alphabetical order.

    ``Helsinki-NLP/opus-100`` names its configs so: ``ar-en``, ``bg-en``, ``de-en`` but ``en-es``, ``en-ru``.
    """
    return "-".join(sorted(["en", language]))


TATOEBA_CODES = {
    "af": "afr",
    "ar": "ara",
    "bg": "bul",
    "bn": "ben",
    "de": "deu",
    "el": "ell",
    "es": "spa",
    "et": "est",
    "eu": "eus",
    "fa": "pes",
    "fi": "fin",
    "fr": "fra",
    "he": "heb",
    "hi": "hin",
    "hu": "hun",
    "id": "ind",
    "it": "ita",
    "ja": "jpn",
    "jv": "jav",
    "ka": "kat",
    "kk": "kaz",
    "ko": "kor",
    "ml": "mal",
    "mr": "mar",
    "nl": "nld",
    "pt": "por",
    "ru": "rus",
    "sw": "swh",
    "ta": "tam",
    "te": "tel",
    "th": "tha",
    "tl": "tgl",
    "tr": "tur",
    "ur": "urd",
    "vi": "vie",
    "zh": "cmn",
}
"""ISO 639-1 code → the three-letter code of the Tatoeba (LASER) files and Hub configs, for the 36 XTREME languages
(XTREME's own ``lang3_dict``: Persian is ``pes``, Swahili ``swh``, Chinese ``cmn``)."""


def check_language(language: str, known: Sequence[str] = XNLI_LANGUAGES, what: str = "XNLI") -> None:
    """InputError unless ``language`` is one of the benchmark's languages."""
    if language not in known:
        raise InputError(f"unknown language {language!r}; {what} languages: {', '.join(known)}")

"""Language lists of the study and of the evaluation sets."""

from __future__ import annotations

import re
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


def default_config_name(language: str, dataset: str | None = None) -> str:
    """The config of ``language`` paired with English in ``dataset``: ``en-LANG`` in sentence-transformers' parallel
    sets (:data:`PARALLEL_CONFIG_TEMPLATE`: ``en-ar``, ``en-es``), else OPUS-style, the two codes in alphabetical
    order (``Helsinki-NLP/opus-100``: ``ar-en``, ``bg-en``, ``de-en`` but ``en-es``, ``en-ru``)."""
    if dataset is not None and dataset.startswith("sentence-transformers/parallel-sentences"):
        return PARALLEL_CONFIG_TEMPLATE.format(lang=language)
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


UDPOS_LANGUAGE_NAMES = {
    "af": "Afrikaans",
    "ar": "Arabic",
    "bg": "Bulgarian",
    "de": "German",
    "el": "Greek",
    "en": "English",
    "es": "Spanish",
    "et": "Estonian",
    "eu": "Basque",
    "fa": "Persian",
    "fi": "Finnish",
    "fr": "French",
    "he": "Hebrew",
    "hi": "Hindi",
    "hu": "Hungarian",
    "id": "Indonesian",
    "it": "Italian",
    "ja": "Japanese",
    "kk": "Kazakh",
    "ko": "Korean",
    "mr": "Marathi",
    "nl": "Dutch",
    "pt": "Portuguese",
    "ru": "Russian",
    "ta": "Tamil",
    "te": "Telugu",
    "th": "Thai",
    "tl": "Tagalog",
    "tr": "Turkish",
    "ur": "Urdu",
    "vi": "Vietnamese",
    "yo": "Yoruba",
    "zh": "Chinese",
}
"""ISO 639-1 code → the language name of XTREME's UD-POS configs (``google/xtreme`` ``udpos.Spanish``): its 33
languages, mapped as XTREME's own results script maps them."""

PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")
"""The configs of ``google-research-datasets/paws-x`` (English and its six human-translated languages)."""

FLORES_CODES = {
    "af": "afr_Latn",
    "ar": "arb_Arab",
    "bg": "bul_Cyrl",
    "bn": "ben_Beng",
    "cs": "ces_Latn",
    "de": "deu_Latn",
    "el": "ell_Grek",
    "en": "eng_Latn",
    "es": "spa_Latn",
    "et": "est_Latn",
    "eu": "eus_Latn",
    "fa": "pes_Arab",
    "fi": "fin_Latn",
    "fr": "fra_Latn",
    "he": "heb_Hebr",
    "hi": "hin_Deva",
    "hu": "hun_Latn",
    "id": "ind_Latn",
    "it": "ita_Latn",
    "ja": "jpn_Jpan",
    "jv": "jav_Latn",
    "ka": "kat_Geor",
    "kk": "kaz_Cyrl",
    "ko": "kor_Hang",
    "ml": "mal_Mlym",
    "mr": "mar_Deva",
    "my": "mya_Mymr",
    "nl": "nld_Latn",
    "pl": "pol_Latn",
    "pt": "por_Latn",
    "ru": "rus_Cyrl",
    "sw": "swh_Latn",
    "ta": "tam_Taml",
    "te": "tel_Telu",
    "th": "tha_Thai",
    "tl": "tgl_Latn",
    "tr": "tur_Latn",
    "uk": "ukr_Cyrl",
    "ur": "urd_Arab",
    "vi": "vie_Latn",
    "yo": "yor_Latn",
    "zh": "zho_Hans",
}
"""ISO 639-1 code → FLORES-200 code (language_Script), the config names of SIB-200 and Belebele; Chinese is the
Simplified script, Arabic Modern Standard Arabic, Persian Western Persian, Swahili ``swh`` (as Belebele's list)."""

_FLORES_CODE = re.compile(r"[a-z]{3}_[A-Z][a-z]{3}")
_ISO_CODES = {code: language for language, code in FLORES_CODES.items()}


def flores_code(language: str, what: str) -> str:
    """The FLORES-200 code of ``language``: an ISO code of :data:`FLORES_CODES`, or a FLORES-200 code itself for a
    language the table does not name (``ast_Latn``); anything else, a table language's FLORES code included (write
    ``es``, not ``spa_Latn``, so that English stays ``en`` and out of the zero-shot average), is an InputError."""
    if language in FLORES_CODES:
        return FLORES_CODES[language]
    if language in _ISO_CODES:  # one name per language across tasks: the report pairs sets by language
        raise InputError(f"write {_ISO_CODES[language]!r} for {language} in {what}, as in the other tasks")
    if _FLORES_CODE.fullmatch(language):
        return language
    raise InputError(
        f"unknown language {language!r} for {what}; give an ISO code ({', '.join(FLORES_CODES)}) or a FLORES-200 "
        "code such as spa_Latn"
    )

"""Language lists of the study and of the evaluation sets."""

PAPER_LANGUAGES = ("es", "ru", "vi", "hi")
"""Target languages of Efimov et al.: Spanish, Russian, Vietnamese, Hindi (English is the source)."""

XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")

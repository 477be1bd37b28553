"""Parallel data and text: aligned pairs (read, filtered), word alignment, tokenisation, languages, gettext corpora."""

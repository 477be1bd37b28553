"""Diagnostics of adjusted encoders: word distances, retrieval, significance tests, figures.

run_analysis.py's steps: :mod:`.arguments` (its options), :mod:`.word_vectors` (word numbering and vectors of the
evaluation pairs), :mod:`.word_analysis` (distances, comparisons, figures and word retrieval per language),
:mod:`.sentence_retrieval` (XTREME-style retrieval with per-query files) and :mod:`.summary` (``summary.md``).
"""

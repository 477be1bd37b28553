"""Extractive QA: SQuAD-format data, tokenised windows, n-best post-processing, EM/F1 scoring."""

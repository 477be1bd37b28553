"""The downstream tasks: what the task scripts share, NLI, NER, their metrics, and extractive QA (``qa``)."""

"""The study: the experiment matrix behind ``reproduce.py`` and the report behind ``run_report.py``."""

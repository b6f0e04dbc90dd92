"""Root conftest: the real servers are started by `tests/bootstrap.py` (loaded with -p)."""

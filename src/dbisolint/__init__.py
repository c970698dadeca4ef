"""dbisolint: lint rules and fixes for test isolation (in-memory SQLite engines, module-level state)."""

__version__ = "0.1.0"

__all__ = ["__version__", "check", "fix", "load_config", "CheckResult"]


def __getattr__(name: str):  # the API is imported on first use, so `--version` stays instant
    if name in ("check", "fix", "CheckResult"):
        from . import checker

        return getattr(checker, name)
    if name == "load_config":
        from .config import load_config

        return load_config
    raise AttributeError(name)

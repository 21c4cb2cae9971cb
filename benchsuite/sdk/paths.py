"""Where benchsuite keeps its cache (reference models, data) and its results store."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "BENCHSUITE_CACHE"
STORE_ENV = "BENCHSUITE_STORE"


def cache_dir() -> Path:
    """``$BENCHSUITE_CACHE``, else the platform's user cache folder for benchsuite."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("benchsuite"))


def store_dir(explicit: str | Path | None = None) -> Path:
    """`explicit`, else ``$BENCHSUITE_STORE``, else the platform's user data folder for benchsuite."""
    if explicit is not None:
        return Path(explicit).expanduser()
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("benchsuite")) / "results"

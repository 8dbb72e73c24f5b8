"""CUDA C sources, shipped with the package and loaded by name (``sckit.kernels_cu``).

Only sources live here; the Python launchers are in ``sckit.backends``. Use
:func:`source` to read one without caring whether sckit is installed as a wheel or editable.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["list_sources", "source", "source_path"]


def list_sources() -> list[str]:
    """Names (stems) of the ``.cu`` files shipped in this package, sorted."""
    return sorted(p.name[:-3] for p in resources.files(__name__).iterdir() if p.name.endswith(".cu"))


def source_path(stem: str):
    """A ``Traversable`` for ``<stem>.cu``; ``ValueError`` naming the known stems if absent."""
    path = resources.files(__name__) / f"{stem}.cu"
    if not path.is_file():
        raise ValueError(f"no CUDA source {stem!r}; shipped sources: {list_sources()}")
    return path


def source(stem: str) -> str:
    """The text of ``kernels_cu/<stem>.cu``."""
    return source_path(stem).read_text(encoding="utf-8")

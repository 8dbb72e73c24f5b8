"""``SuccinctModel.ras``: parameter name -> RAS, reachable by the owning module's name too."""

from __future__ import annotations

from typing import Any

__all__ = ["RasMap"]


class RasMap(dict[str, Any]):
    """A plain dict of canonical parameter names to RAS, with two kindnesses on a miss.

    ``m["conv1"]`` returns ``m["conv1.weight"]`` when the module ``conv1`` owns exactly one
    encoded tensor (the usual question is "the weights of conv1"), and any other miss raises a
    ``KeyError`` that lists the names there are, instead of a bare key.
    """

    def __missing__(self, key: object) -> Any:
        if isinstance(key, str):
            prefix = f"{key}." if key else ""
            owned = [n for n in self if n.startswith(prefix) and "." not in n[len(prefix):]]
            if len(owned) == 1:
                return dict.__getitem__(self, owned[0])
            if owned:
                raise KeyError(f"module {key!r} owns several encoded tensors: {', '.join(owned)}; "
                               "name one")
        names = list(self)
        shown = ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")
        raise KeyError(f"no encoded tensor or module named {key!r}; encoded: {shown or 'none'}")

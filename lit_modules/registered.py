"""`build_registered`: make a registered strategy by name, with one-line errors for bad options.

The loss weightings and the task samplers are both "a registry of classes, picked by name in a
config, each with its own options". This builds one: an unknown name lists the valid names, an
unknown option lists the class's options, and a missing required option names itself — each a
one-line `ValueError`.
"""
from __future__ import annotations

import inspect
from typing import Any, Mapping


def build_registered(what: str, registry: Mapping[str, type], name: str, first: Any, **options: Any) -> Any:
    """`registry[name](first, **options)`, checked; `what` names the kind in messages ("weighting")."""
    if name not in registry:
        raise ValueError(f"unknown {what} {name!r}; valid: {', '.join(sorted(registry))}")
    cls = registry[name]
    signature = inspect.signature(cls)
    valid = list(signature.parameters)[1:]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"{what} {name!r} has no option {', '.join(map(repr, unknown))}; "
                         f"its options: {', '.join(valid) or 'none'}")
    try:
        signature.bind(first, **options)
    except TypeError as error:
        raise ValueError(f"{what} {name!r}: {error}") from None
    return cls(first, **options)

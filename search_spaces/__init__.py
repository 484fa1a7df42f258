"""Built-in search spaces and the space-file schema (YAML or TOML).

``load_space("mlp-digits")`` returns a built-in space; ``load_space("my.yaml")`` reads a
file. See :mod:`search_spaces._schema` for the schema.
"""

from search_spaces._schema import (
    POLICIES,
    SAMPLERS,
    SearchSpace,
    SpaceError,
    builtin_spaces,
    load_space,
    threshold_key,
)

__all__ = [
    "POLICIES",
    "SAMPLERS",
    "SearchSpace",
    "SpaceError",
    "builtin_spaces",
    "load_space",
    "threshold_key",
]

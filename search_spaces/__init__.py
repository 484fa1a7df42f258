"""Built-in search spaces and the space-file schema (YAML or TOML).

``load_space("mlp-digits")`` returns a built-in space; ``load_space("my.yaml")`` reads a
file. See :mod:`search_spaces._schema` for the schema.
"""

from search_spaces._load import builtin_spaces, load_space
from search_spaces._samplers import SAMPLERS, SpaceError
from search_spaces._schema import POLICIES, SearchSpace, threshold_key

__all__ = [
    "POLICIES",
    "SAMPLERS",
    "SearchSpace",
    "SpaceError",
    "builtin_spaces",
    "load_space",
    "threshold_key",
]

"""YAML as tune-stop's files are read: YAML 1.2's numbers (``1e-3`` is a float), safe, parsed by libyaml.

PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-3``), so ``lr: 1e-3`` would be the
string ``'1e-3'``. Space files and stopping files (``stoppers.yaml``, ``configuration.yaml``) are
read here; this module imports nothing heavier than PyYAML. libyaml (in PyYAML's wheels) also
accepts a tab after ``key:`` or inside ``[...]``, which the pure-Python parser refuses.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["parse_yaml"]


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's float rules: ``1e-3``, ``2E5`` and ``.5`` are numbers."""


_Yaml12Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class _FastYaml12Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same rules parsed by libyaml (about 8 times faster) where PyYAML was built with it.

    Only for text that parses: an error is parsed again by ``_Yaml12Loader``, whose messages name the
    character and the token it expected.
    """


_FastYaml12Loader.yaml_implicit_resolvers = _Yaml12Loader.yaml_implicit_resolvers


def parse_yaml(text: str) -> Any:
    """What a YAML text holds, with YAML 1.2's floats (``1e-3`` is a number).

    Raises:
        yaml.YAMLError: With the pure-Python parser's problem and mark.
    """
    try:
        return yaml.load(text, Loader=_FastYaml12Loader)  # a safe loader: no arbitrary objects
    except yaml.YAMLError:
        return yaml.load(text, Loader=_Yaml12Loader)

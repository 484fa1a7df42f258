"""Reading a space or stoppers file: YAML 1.2 numbers, TOML, and one-line errors with line and column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib
import yaml

from search_spaces._samplers import SpaceError
from tune_stop._yaml import parse_yaml

__all__ = ["TOP_LEVEL", "read_file"]

TOP_LEVEL = (
    "description",
    "trainable",
    "metric",
    "mode",
    "num_samples",
    "num_folds",
    "seed",
    "config",
    "stoppers",
    "scheduler",
)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """The parser's problem with its line and column (from 1), in one line."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).strip().splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def read_file(path: Path) -> dict[str, Any]:
    """The mapping a YAML or TOML file holds.

    Raises:
        SpaceError: If the file cannot be read, is not UTF-8, YAML or TOML, or holds no mapping.
    """
    try:
        text = path.read_text()
    except OSError as error:
        raise SpaceError(str(path), "", f"cannot read the file ({error.strerror})") from None
    except UnicodeDecodeError:
        raise SpaceError(str(path), "", "is not UTF-8 text") from None
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        else:
            data = parse_yaml(text)
    except yaml.YAMLError as error:
        raise SpaceError(str(path), "", f"not valid YAML: {_yaml_problem(error)}") from None
    except tomllib.TOMLDecodeError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SpaceError(str(path), "", f"not valid TOML: {first_line}") from None
    if not isinstance(data, dict):
        raise SpaceError(
            str(path), "", f"must hold a mapping of keys ({', '.join(TOP_LEVEL)}), got {type(data).__name__}"
        )
    return data

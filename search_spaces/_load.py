"""The built-in spaces, and loading a space by name or from a file."""

from __future__ import annotations

from pathlib import Path

from search_spaces._files import TOP_LEVEL, read_file
from search_spaces._samplers import SpaceError
from search_spaces._schema import SearchSpace

__all__ = ["BUILTIN_DIR", "builtin_spaces", "load_space"]

BUILTIN_DIR = Path(__file__).resolve().parent


def builtin_spaces() -> dict[str, Path]:
    """The built-in spaces by name."""
    return {path.stem: path for path in sorted(BUILTIN_DIR.glob("*.yaml"))}


def load_space(name_or_path: str | Path) -> SearchSpace:
    """Loads a built-in space by name, or a YAML/TOML space file by path.

    Raises:
        SpaceError: If the space is unknown or the file is malformed, naming the file,
            the key and what is allowed.
    """
    builtins = builtin_spaces()
    if str(name_or_path) in builtins:
        path = builtins[str(name_or_path)]
    else:
        path = Path(name_or_path)
        if path.suffix not in (".yaml", ".yml", ".toml"):
            raise SpaceError(
                str(name_or_path),
                "",
                f"unknown space; built-in spaces: {', '.join(builtins)}; or give a .yaml/.yml/.toml file",
            )
        if not path.is_file():
            raise SpaceError(str(path), "", "no such file")
    data = read_file(path)
    source = str(path) if str(name_or_path) not in builtins else f"built-in space {name_or_path}"
    for key in data:
        if key not in TOP_LEVEL:
            raise SpaceError(source, str(key), f"unknown key; allowed: {', '.join(TOP_LEVEL)}")
    for key in ("trainable", "metric"):
        if key not in data:
            raise SpaceError(source, key, "is required")
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise SpaceError(source, "config", f"must be a mapping of hyperparameters, got {config!r}")
    scheduler = data.get("scheduler", {"name": "fifo"})
    if isinstance(scheduler, str):
        scheduler = {"name": scheduler}
    space = SearchSpace(
        name=path.stem,
        source=source,
        description=str(data.get("description", "")),
        trainable=data["trainable"],
        metric=data["metric"],
        mode=data.get("mode", "min"),
        num_samples=data.get("num_samples", 1),
        num_folds=data.get("num_folds", 1),
        seed=data.get("seed", 0),
        config=config,
        stoppers=data.get("stoppers", []),
        scheduler=scheduler,
    )
    space.validate()
    return space

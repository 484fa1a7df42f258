"""The README and docs/ say what runs: every command parses, every module and link exists, the README stays short."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from tune_stop.app._parser import build_parser

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Placeholders the pages use in commands, and what stands in for them when the command is parsed.
PLACEHOLDERS = {"SPACE": "mlp-digits", "EXPERIMENT": "results", "FILE": "stoppers.yaml", "NAME": "name", "N": "8"}


def _blocks(page: Path) -> list[str]:
    """The shell code blocks of a page."""
    return re.findall(r"```(?:bash|sh|console)\n(.*?)```", page.read_text(), flags=re.S)


def _commands(page: Path) -> list[str]:
    """Every command of a page's shell blocks: continued lines joined, comments dropped, ``&&`` chains split."""
    commands = []
    for block in _blocks(page):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands += [part.strip() for part in line.split("&&")]
    return commands


def _tune_stop_argv(command: str) -> list[str] | None:
    """The arguments after ``tune-stop`` in a command (None: not a tune-stop command)."""
    words = shlex.split(command)
    for index, word in enumerate(words):
        if word == "tune-stop" or word.endswith("bin/tune-stop"):
            return [PLACEHOLDERS.get(w, w) for w in words[index + 1 :]]
    return None


def test_the_readme_is_short_and_opens_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; the goal is at most 250"
    block = "\n".join(lines[:8])
    assert "tune-stop search" in block and "python -m pytest" in block


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_tune_stop_command_on_a_page_parses(page, capsys):
    parser = build_parser()
    for command in _commands(page):
        argv = _tune_stop_argv(command)
        if argv is None:
            continue
        try:
            parser.parse_args(argv)
        except SystemExit as error:
            if error.code != 0:  # --help exits 0
                pytest.fail(f"{page.name}: `{command}` does not parse: {capsys.readouterr().err.strip()}")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_python_module_and_local_link_on_a_page_exists(page):
    text = page.read_text()
    modules = set(re.findall(r"python3? -m ([\w.]+)", text)) - {"venv", "pip", "pytest"}
    missing = [module for module in sorted(modules) if importlib.util.find_spec(module) is None]
    assert not missing, f"{page.name} runs modules that do not exist: {missing}"
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    broken = [link for link in local if not (page.parent / link).exists()]
    assert not broken, f"{page.name} links to files that do not exist: {broken}"
    scripts = set(re.findall(r"python3? ((?:examples|tools|benchmarks)/[\w/]+\.py)", text))
    assert not [s for s in scripts if not (ROOT / s).is_file()], f"{page.name} runs scripts that do not exist"

"""The family registry is the one list of policy families, and the layers import only downwards."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import search_spaces
from analysis import candidate_policies
from tune_stop.stoppers import FAMILIES, POLICIES, HistoryStopper

ROOT = Path(__file__).resolve().parents[1]


ROOF = ROOT / "tune_stop" / "app"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, by its full dotted name (``from a.b import c`` counts ``a.b`` and ``a.b.c``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _reaches(names: set[str], forbidden: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f"{f}.") for f in forbidden))


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("tune_stop", {"analysis", "search_spaces", "tune_stop.app"}),
        ("search_spaces", {"analysis", "tune_stop.app"}),
        ("analysis", {"search_spaces", "tune_stop.app"}),
    ],
)
def test_layers_import_only_downwards_and_only_the_roof_sees_everything(folder, forbidden):
    offenders = [
        f"{path.relative_to(ROOT)} imports {_reaches(_imports(path), forbidden)}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        if ROOF not in path.parents and _reaches(_imports(path), forbidden)
    ]
    assert offenders == []


def test_the_import_rule_sees_an_upward_import(tmp_path):
    upward = tmp_path / "upward.py"
    upward.write_text("from tune_stop.app.search import run_search\nimport analysis._recommend\n")
    assert _reaches(_imports(upward), {"tune_stop.app", "analysis"}) == [
        "analysis._recommend",
        "tune_stop.app.search",
        "tune_stop.app.search.run_search",
    ]


def test_the_roof_holds_the_command_line_the_search_driver_and_the_calibrate_loop():
    assert {p.name for p in ROOF.glob("*.py")} >= {"cli.py", "search.py", "calibrate.py"}
    assert not any((ROOT / "tune_stop" / name).exists() for name in ("cli.py", "search.py", "calibrate.py"))


def test_space_files_the_cli_and_the_analysis_read_the_registry():
    assert search_spaces.POLICIES is POLICIES
    assert set(FAMILIES) <= set(POLICIES) and {"non_finite", "max_epochs"} <= set(POLICIES)
    values = np.linspace(1.0, 0.1, 20)[None, :]
    policies = candidate_policies(list(FAMILIES), "val_loss", "min", values, "train_loss")
    assert [p.family for p in policies] == list(FAMILIES)
    for policy in policies:
        family = FAMILIES[policy.family]
        assert policy.parameter == family.parameter == family.stopper.parameter
        assert family.grid == () or policy.candidates == tuple(float(v) for v in family.grid)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_builds_a_replayable_live_stopper_and_validates_settings(name):
    family = FAMILIES[name]
    value = 3.0 if family.integer else 0.5
    stopper = family.build("val_loss", "min", value, train_metric="train_loss")
    assert isinstance(stopper, HistoryStopper) and stopper.policy == name
    assert getattr(stopper, family.parameter) == value
    scores = stopper.scores({m: np.ones((2, 6)) for m in stopper.metrics})
    assert scores.shape == (2, 6)
    assert family.description and stopper.describe() != repr(stopper)
    with pytest.raises(ValueError, match=rf"{name} cannot keep \['bogus'\] fixed"):
        family.build("val_loss", "min", value, train_metric="train_loss", settings={"bogus": 1})
    if family.errors_only:
        with pytest.raises(ValueError, match="defined on errors"):
            family.build("val_accuracy", "max", value, train_metric="train_loss")
    else:
        assert family.build("val_accuracy", "max", value).mode == "max"

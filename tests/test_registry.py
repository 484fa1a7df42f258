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


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("tune_stop", {"analysis", "search_spaces"}),
        ("search_spaces", {"analysis"}),
        ("analysis", {"search_spaces"}),
    ],
)
def test_layers_import_only_downwards(folder, forbidden):
    allowed_above = {
        ROOT / "tune_stop" / "search.py",
        ROOT / "tune_stop" / "cli.py",
        ROOT / "tune_stop" / "calibrate.py",
    }
    offenders = [
        f"{path.relative_to(ROOT)} imports {sorted(_imports(path) & forbidden)}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path not in allowed_above and _imports(path) & forbidden
    ]
    assert offenders == []


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

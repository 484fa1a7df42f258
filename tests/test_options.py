"""The analysis options (`analysis._options`): every bad value named in one line."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from analysis import (
    analyse,
)
from tests.curves import (
    folded_curves,
)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"tolerance": -0.1}, "tolerance=-0.1"),
        ({"objective": "fastest"}, "objective='fastest'"),
        ({"families": ("early",)}, "policy='early'"),
        ({"metrics": [("val_los", "min")]}, "metric 'val_los' is not in the curves"),
        ({"target": "fid"}, "target 'fid' is not in the curves"),
        ({"settings": {"threshold": {"val_loss": {"grace_period": -1}}}}, "'val_loss': grace_period must be"),
        ({"settings": {"patience": {"*": {"min_delta": -0.1}}}}, "'val_loss': min_delta must be >= 0"),
        ({"settings": {"up": {"val_loss": {"strip": 0}}}}, "strip must be >= 1"),
        ({"settings": {"gl": {"val_loss": {"strip": 3}}}}, r"gl on 'val_loss': \['strip'\] cannot be set"),
        ({"settings": {"early": {"val_loss": {"strip": 3}}}}, "early on 'val_loss'"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        analyse(folded_curves(), **options)


def test_options_are_keyword_only_stored_unchanged_and_checked_at_use():
    import dataclasses

    from analysis import AnalysisOptions

    with pytest.raises(TypeError):
        AnalysisOptions("val_loss")  # type: ignore[misc]
    settings = {"patience": {"val_loss": {"min_delta": 0.5}}}
    options = AnalysisOptions(tolerance=-1.0, settings=settings)  # stored as given, not checked yet
    assert options.tolerance == -1.0 and options.settings is settings
    with pytest.raises(ValueError, match=r"tolerance must be a finite number >= 0, but got tolerance=-1.0"):
        options.validate()
    assert dataclasses.replace(options, tolerance=0.02).validate() is None


def test_analyse_takes_an_options_object_or_its_keywords_alike():
    from analysis import AnalysisOptions

    frame = folded_curves()
    keywords = {"metrics": [("val_loss", "min")], "families": ("threshold",), "baselines": False}
    by_keywords = analyse(frame, **keywords).recommendations
    by_options = analyse(frame, AnalysisOptions(**keywords)).recommendations
    pd.testing.assert_frame_equal(by_keywords, by_options)
    with pytest.raises(TypeError, match="give options or keywords, not both"):
        analyse(frame, AnalysisOptions(), tolerance=0.02)
    with pytest.raises(TypeError):
        analyse(frame, tolerence=0.02)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"target_mode": "maximize"}, "target_mode must be 'min' or 'max', but got 'maximize'"),
        ({"metrics": [("val_loss", "lower")]}, "the mode of 'val_loss' must be 'min' or 'max', but got 'lower'"),
        ({"selection": ("val_loss", "up")}, "the selection's mode must be 'min' or 'max', but got 'up'"),
    ],
)
def test_a_direction_that_is_neither_min_nor_max_is_named(options, message):
    from analysis import AnalysisOptions

    with pytest.raises(ValueError, match=re.escape(message)):
        AnalysisOptions(**options).validate()

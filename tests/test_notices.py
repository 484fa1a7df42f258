"""The analysis names remedies as concepts; the command line puts them in its flags (`tune_stop.app._remedies`)."""

from __future__ import annotations

import pytest

from analysis import AnalysisError, AnalysisWarning, Remedy
from analysis._notices import REMEDY_WORDS
from tune_stop.app._remedies import _FLAGS, cli_message


@pytest.mark.parametrize("remedy", list(Remedy))
def test_every_remedy_has_library_words_without_flags_and_command_line_words(remedy):
    assert "--" not in REMEDY_WORDS[remedy]
    assert "--" in _FLAGS[remedy]


@pytest.mark.parametrize("kind", [AnalysisWarning, AnalysisError])
def test_a_notice_reads_in_the_library_s_words_and_in_the_command_line_s(kind):
    notice = kind("no metric to analyse: {remedy} (none present).", Remedy.NAME_METRIC)
    assert str(notice) == "no metric to analyse: name the metrics to stop on (none present)."
    assert cli_message(notice) == "no metric to analyse: give --metric (none present)."
    assert isinstance(notice, UserWarning if kind is AnalysisWarning else ValueError)
    assert cli_message(ValueError("plain")) == "plain"


def test_a_notice_keeps_braces_in_names_and_survives_pickling():
    import pickle

    import cloudpickle

    notice = AnalysisError("the target 'acc{fold}' is flat: {remedy}.", Remedy.NAME_TARGET)
    assert str(notice) == "the target 'acc{fold}' is flat: Name a target to judge by another column.."
    for dumps in (pickle.dumps, cloudpickle.dumps):
        again = pickle.loads(dumps(notice))
        assert type(again) is AnalysisError and str(again) == str(notice) and again.remedy is Remedy.NAME_TARGET

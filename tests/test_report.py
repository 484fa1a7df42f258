"""The report files (`analysis._report`)."""

from __future__ import annotations

from analysis import (
    analyse,
)
from tests.curves import (
    folded_curves,
)


def test_report_files_get_the_users_usual_permissions(tmp_path):
    import os
    import stat

    from analysis import write_report

    analysis = analyse(folded_curves(), metrics=[("val_loss", "min")], families=("patience",), baselines=False)
    previous = os.umask(0o022)
    try:
        written = write_report(analysis, tmp_path / "report", tolerance=0.01, source="curves")
    finally:
        os.umask(previous)
    assert {stat.S_IMODE(path.stat().st_mode) for path in written} == {0o644}

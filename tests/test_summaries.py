"""What a search prints when it ends (`tune_stop.app._summaries`)."""

from __future__ import annotations

import pandas as pd


def test_the_audit_summary_explains_compute_below_a_prediction_that_assumed_no_asha(monkeypatch, capsys, tmp_path):
    import analysis
    from tune_stop.app import _summaries
    from tune_stop.experiment import ExperimentRecord

    table = pd.DataFrame(
        {
            "quantity": ["regret", "compute_used"],
            "predicted": [0.005, 0.9],
            "low": [0.002, 0.78],
            "high": [0.009, 1.0],
            "realized": [0.02, 0.556],
            "judged_on": ["12 audit curves", "the 20 trials that ran under the policy"],
            "outside": [True, True],
            "side": ["above", "below"],
        }
    )
    table.attrs.update(fired=0, audit_curves=12)
    monkeypatch.setattr(analysis, "audit_table", lambda curves, record: table)
    monkeypatch.setattr(analysis, "load_experiment", lambda experiment: pd.DataFrame())
    block = {"interval": 0.8, "new_configs": 4, "asha": None}
    for scheduler, explained in (({"name": "asha", "grace_period": 3}, True), ({"name": "fifo"}, False)):
        record = ExperimentRecord(
            "mlp-digits",
            "perceptron",
            "val_loss",
            "min",
            3,
            audited_configs=[1],
            prediction=block,
            replayed_scheduler=scheduler,
        )
        monkeypatch.setattr(_summaries, "read_record_or_none", lambda source, record=record: record)
        _summaries.print_audit(tmp_path)
        printed = capsys.readouterr().out.splitlines()
        regret, compute = (next(line for line in printed if line.strip().startswith(q)) for q in ("regret", "compute"))
        assert regret.endswith("ABOVE the interval")  # a regret outside its interval is flagged either way
        assert compute.endswith("below the interval: ASHA cut trials the prediction did not assume") is explained
        assert compute.endswith("BELOW the interval") is not explained
        assert "the policy fired on none of the 12 audit curves" in "\n".join(printed)

"""The reference docs are generated from the declarations and current; the outputs have
exactly the declared columns."""

from pathlib import Path

import blocmodel as bm
from blocmodel.reference_docs import TARGET, reference_markdown
from blocmodel.schema import OUTPUTS


def test_reference_docs_are_current():
    assert TARGET.read_text() == reference_markdown(), "run `python -m blocmodel.reference_docs`"


def test_every_scenario_key_and_output_is_documented():
    text = reference_markdown()
    for key in bm.Scenario.model_fields:
        assert f"`{key}`" in text, key
    for output in OUTPUTS.values():
        assert f"`{output.name}.csv`" in text


def test_outputs_have_the_declared_columns(ko, tmp_path):
    base = bm.solve(ko)
    r = bm.solve(ko, {"price_floors": [{"product": "wheat", "price": 1.9, "markets": ["HOME"]}]})
    r.to_csv(tmp_path, baseline=base)
    import pandas as pd
    for name in ("prices", "flows", "markets", "welfare", "welfare_change", "welfare_change_by_product", "floors"):
        assert list(pd.read_csv(tmp_path / f"{name}.csv").columns) == OUTPUTS[name].names, name
    assert Path(tmp_path / "summary.json").exists()

"""Every notebook runs top to bottom on the public API, renders its figures, and its .ipynb
twin holds the same cells as the diff-friendly .py (jupytext percent) source."""

from __future__ import annotations

import time
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.py"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_renders_its_figures(source, tmp_path):
    notebook = jupytext.read(source)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(source.parent)}}).execute()   # raises on any error
    seconds = time.perf_counter() - start
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "no figure rendered"
    assert all(len(o["data"]["image/png"]) > 5000 for o in images), "a figure is (nearly) empty"
    print(f"{source.name}: {seconds:.1f} s, {len(images)} figures")


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_ipynb_twin_is_in_sync(source):
    twin = source.with_suffix(".ipynb")
    assert twin.exists(), f"run `jupytext --sync {source}`"
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(jupytext.read(twin)) == cells(jupytext.read(source)), f"run `jupytext --sync {source}`"

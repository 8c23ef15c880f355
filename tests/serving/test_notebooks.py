"""The notebooks: stored without outputs, and run end to end (nbclient, a real kernel) on the small served
project that the serving tests build with the real stage scripts."""

import json
import time

import pytest

from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_there_are_two_notebooks_stored_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["01_eda.ipynb", "02_embedding_analysis.ipynb"]
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code), path.name
        assert all(c["cell_type"] == "markdown" for c in cells[:1])  # each opens by saying what it reads


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_runs_end_to_end_on_the_pipelines_outputs(path, project, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("MOVIEREC_HOME", str(project))  # the kernel reads the small run, not this checkout's
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline
    nb = nbformat.read(path, as_version=4)
    t = time.monotonic()
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    assert time.monotonic() - t < 300
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert errors == []
    figures = sum(o.output_type == "display_data" and "image/png" in o.data for o in outputs)
    assert figures >= (7 if path.name.startswith("01") else 4)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert ("ratings by" in text) if path.name.startswith("01") else ("Silhouette score" in text)

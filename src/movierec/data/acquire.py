"""Turn the ``data`` section of ``params.yaml`` into a folder of ml-25m-schema CSVs."""

from __future__ import annotations

import json
from pathlib import Path

from movierec.data.download import DATASETS, fetch_archive, md5_of, resolve_source
from movierec.data.normalize import normalize
from movierec.data.synthetic import SyntheticConfig, generate
from movierec.errors import DownloadError
from movierec.utils import atomic_dir

SPECIAL = ("synthetic", "local")


def acquire(dataset: str, out_dir: str | Path, *, local_path: str = "", synthetic: dict | None = None,
            seed: int = 42) -> dict:  # fmt: skip
    """Fill ``out_dir`` with the dataset and a ``source.json`` saying where it came from.

    The folder is built beside ``out_dir`` and swapped in at the end, so a failure leaves no mixed folder.
    """
    with atomic_dir(out_dir) as build:
        if dataset == "synthetic":
            cfg = SyntheticConfig(**{**(synthetic or {}), "seed": seed})
            source = {"dataset": "synthetic", **generate(cfg, build), "config": cfg.__dict__}
        elif dataset == "local":
            if not local_path:
                raise DownloadError("data.dataset is 'local' but data.local_path is empty: set it to a folder or zip")
            path = Path(local_path).expanduser()
            files = normalize(path, build)
            source = {"dataset": "local", "files": files}
            if path.is_file():
                source["md5"] = md5_of(path)
        elif dataset in DATASETS:
            archive = fetch_archive(dataset)
            files = normalize(archive, build)
            # where it came from is printed, not stored: the folder must hash the same from any mirror
            print(f"{dataset}: verified archive from {resolve_source().describe(DATASETS[dataset].archive)}")
            source = {"dataset": dataset, "archive": DATASETS[dataset].archive, "md5": md5_of(archive), "files": files}
        else:
            choices = ", ".join([*DATASETS, *SPECIAL])
            raise DownloadError(f"unknown data.dataset {dataset!r}; choose one of {choices}")
        (build / "source.json").write_text(json.dumps(source, indent=2, sort_keys=True) + "\n")
    return source

"""Load runs from wandb into the same long table as ``analysis.runs.load_runs`` (optional).

Run folders hold everything, so this is only for teams whose runs live on a wandb server:

    from analysis.wandb_runs import load_wandb
    df = load_wandb("my-entity/ace", filters={"group": "ace29_paper"})   # needs `wandb login`

Each wandb run's config is the resolved Hydra config the run logged (``ace.logger.RunLogger``), so
the identity columns are derived exactly as for run folders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from analysis.runs import ID_COLUMNS, LONG_COLUMNS, identity_from_config

#: wandb key prefix -> (source, metric name) as in the run folders' CSVs.
_FIXED_KEYS = {"time/causal_s": ("causal", "compute_s"), "time/causal_wait_s": ("causal", "wait_s"),
               "ace/reset_factor": ("resets", "factor"),
               "ace/reset_dormancy": ("resets", "dormancy")}


def _source_metric(key: str) -> tuple[str, str] | None:
    if key in _FIXED_KEYS:
        return _FIXED_KEYS[key]
    if key.startswith("eval/"):
        return "eval", key[len("eval/"):]
    if key.startswith("train/"):
        return "train", key[len("train/"):]
    if key.startswith("ace/causal_w"):
        return "causal", key[len("ace/causal_"):]
    return None


def history_to_long(config: Mapping[str, Any], history: Iterable[Mapping[str, Any]], name: str) -> pd.DataFrame:
    """One wandb run (its config and logged rows, ``_step`` = env step) as long-format rows."""
    ident = identity_from_config(dict(config), name)
    rows = []
    for record in history:
        step = record.get("_step")
        if step is None:
            continue
        for key, value in record.items():
            sm = _source_metric(key)
            if sm is not None and value is not None:
                rows.append((sm[0], int(step), sm[1], value))
    long = pd.DataFrame(rows, columns=["source", "step", "metric", "value"])
    for k in ID_COLUMNS:
        long[k] = ident[k]
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    return long[LONG_COLUMNS]


def load_wandb(path: str, filters: dict | None = None, api: Any = None) -> pd.DataFrame:
    """All runs of a wandb project (``entity/project``), optionally filtered (wandb's MongoDB-style filters)."""
    if api is None:
        try:
            import wandb
        except ImportError as e:
            raise ImportError("loading from wandb needs the wandb package: pip install wandb") from e
        api = wandb.Api()
    frames = [history_to_long(run.config, run.scan_history(), f"wandb:{run.path[-1] if run.path else run.name}")
              for run in api.runs(path, filters=filters)]
    if not frames:
        raise FileNotFoundError(f"no wandb run in {path!r} matches filters {filters}")
    return pd.concat(frames, ignore_index=True)

"""Evaluation videos of run folders: each run's latest, a poster frame per task and agent, inline HTML.

A run films the first episode of some evaluations as ``videos/step=<n>.mp4`` (``eval.video``); the
report links each run's latest one and shows, per task and agent, the last frame of the lowest
seed's latest video (what the policy ended the episode with). The notebook embeds the videos.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from ace.video import read_mp4, run_videos

VIDEO_COLUMNS = ["run", "domain", "task", "agent", "seed", "step", "path"]
#: Report subfolder of the posters (PNG) and the videos they stand for.
POSTER_DIR = "videos"


def latest_videos(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run that has videos (``runs``: ``analysis.runs.run_index``): its latest video's step and path."""
    rows = []
    for _, run in runs.iterrows():
        videos = run_videos(Path(run["run_dir"]))
        if videos:
            step, path = max(videos.items())
            rows.append({**{k: run[k] for k in VIDEO_COLUMNS[:5]}, "step": step, "path": str(path)})
    return pd.DataFrame(rows, columns=VIDEO_COLUMNS).sort_values(["domain", "task", "agent", "seed"],
                                                                 ignore_index=True)


def first_seeds(videos: pd.DataFrame) -> pd.DataFrame:
    """The lowest seed's row of every task and agent (the poster's run: chosen by seed, not by score)."""
    return videos.sort_values("seed").groupby(["domain", "task", "agent"], sort=True).head(1).sort_values(
        ["domain", "task", "agent"], ignore_index=True)


def poster_frame(path: str | Path):
    """The last frame of a video: where the policy got to."""
    frames, _ = read_mp4(Path(path))
    return frames[-1]


def _stem(row: pd.Series) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", f"{row['domain']}__{row['task']}__{row['agent']}")


#: (domain, task, agent) -> (poster PNG, its video) in the report folder.
Posters = dict[tuple[str, str, str], tuple[Path, Path]]


def write_posters(videos: pd.DataFrame, out: Path) -> Posters:
    """Per task and agent: the poster (PNG) and a copy of its video under ``out/videos/``."""
    import imageio.v3 as iio

    from ace.files import atomic_write

    written = {}
    for _, row in first_seeds(videos).iterrows():
        png, mp4 = out / POSTER_DIR / f"{_stem(row)}.png", out / POSTER_DIR / f"{_stem(row)}.mp4"
        frame = poster_frame(row["path"])
        atomic_write(png, lambda tmp, frame=frame: iio.imwrite(tmp, frame, extension=".png"))
        atomic_write(mp4, lambda tmp, src=row["path"]: shutil.copyfile(src, tmp))
        written[(row["domain"], row["task"], row["agent"])] = (png, mp4)
    return written


def video_markdown(videos: pd.DataFrame, posters: Posters, out: Path) -> list[str]:
    """The index.md section: a poster per task and agent linking to its video, and every run's latest video."""
    if videos.empty:
        return ["No run holds evaluation videos (`eval.video.enabled=false`, or runs made before videos)."]
    lines = ["The first episode of each run's latest filmed evaluation (`videos/step=<n>.mp4` in its folder). "
             "Poster: the last frame of the lowest seed's video; click it to play.", "",
             "| task | agent | poster (lowest seed) | every seed's latest video |", "|---|---|---|---|"]
    for (domain, task, agent), group in videos.groupby(["domain", "task", "agent"], sort=True):
        png, mp4 = posters[(domain, task, agent)]
        first = group.sort_values("seed").iloc[0]
        alt = f"{domain}/{task} {agent}, seed {first['seed']}, step {first['step']:,d}"
        poster = f"[![{alt}]({_link(png, out)})]({_link(mp4, out)})"
        seeds = " · ".join(f"[seed {r['seed']}, step {r['step']:,d}]({_link(Path(r['path']), out)})"
                           for _, r in group.sort_values("seed").iterrows())
        lines.append(f"| {domain}/{task} | {agent} | {poster} | {seeds} |")
    return lines


def _link(path: Path, out: Path) -> str:
    return quote(Path(os.path.relpath(Path(path).resolve(), Path(out).resolve())).as_posix(), safe="/=")


def inline_html(videos: pd.DataFrame, width: int = 192) -> str:
    """The videos embedded in HTML (base64), a row per task and agent, a caption per video: for notebooks."""
    if videos.empty:
        return "<p>No run holds evaluation videos.</p>"
    parts = []
    for (domain, task, agent), group in videos.groupby(["domain", "task", "agent"], sort=True):
        cells = []
        for _, r in group.sort_values("seed").iterrows():
            data = base64.b64encode(Path(r["path"]).read_bytes()).decode("ascii")
            cells.append(f'<figure style="display:inline-block;margin:4px"><video width="{width}" controls loop muted '
                         f'autoplay playsinline src="data:video/mp4;base64,{data}"></video>'
                         f"<figcaption>seed {r['seed']}, step {r['step']:,d}</figcaption></figure>")
        parts.append(f"<h4>{html.escape(f'{domain}/{task}')} &mdash; {html.escape(str(agent))}</h4>{''.join(cells)}")
    return "\n".join(parts)

"""Evaluation videos, ``python -m ace.evaluate`` and the camera of every domain."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import compose_cfg, run_cli
from omegaconf import OmegaConf

from ace.config import ConfigError, validate
from ace.envs import make_env
from ace.envs import render as render_module
from ace.envs.gymnasium_tasks import MissingDependencyError
from ace.envs.render import RenderUnavailable, open_renderer
from ace.evaluate import evaluate_run
from ace.evaluate import main as evaluate_main
from ace.runner import Trainer
from ace.video import EvalVideos, read_mp4, run_videos

# 400 steps, evaluations at 200 and 400, 25-step episodes: each video is 26 frames (reset + 25 steps).
SHORT = ["preset=smoke", "wandb.mode=disabled", "log.progress=lines", "train.total_steps=400", "eval.every=200",
         "checkpoint.every=200", "env.episode_length=25", "eval.video.size=64"]
FILMED = [*SHORT, "eval.video.enabled=true", "eval.video.every=1"]
TIMING = ["elapsed_s", "steps_per_sec", "compute_s", "wait_s", "env_s", "act_s", "update_s", "causal_s", "eval_s",
          "checkpoint_s"]
LOGS = ("eval.csv", "train.csv", "causal_weights.csv", "resets.csv")


def _numbers(run: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(run / name).drop(columns=TIMING, errors="ignore") for name in LOGS}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def filmed_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("filmed") / "run"
    assert Trainer(compose_cfg(*FILMED), run).run()["step"] == 400
    return run


def test_every_filmed_evaluation_is_a_decodable_mp4(filmed_run):
    videos = run_videos(filmed_run)
    assert list(videos) == [200, 400]
    assert sorted(p.name for p in (filmed_run / "videos").iterdir()) == ["step=200.mp4", "step=400.mp4"]
    for path in videos.values():
        frames, fps = read_mp4(path)
        assert frames.shape == (26, 64, 64, 3) and frames.dtype == np.uint8 and fps == 30.0
        assert frames.std() > 10                       # a scene, not a blank frame
        assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 1  # the arm moved


def test_filming_changes_no_number_of_the_run(filmed_run, tmp_path):
    Trainer(compose_cfg(*SHORT, "eval.video.enabled=false"), tmp_path).run()
    assert not (tmp_path / "videos").exists()
    unfilmed, filmed = _numbers(tmp_path), _numbers(filmed_run)
    for name in LOGS:
        pd.testing.assert_frame_equal(filmed[name], unfilmed[name], check_exact=True)


def test_a_resumed_run_films_the_same_evaluations_once(filmed_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(filmed_run, run, ignore=shutil.ignore_patterns("evaluations"))
    before = {step: read_mp4(path)[0] for step, path in run_videos(run).items()}
    # The run died after its step-200 checkpoint, while writing the step-400 video.
    (run / "final.json").unlink()
    (run / "checkpoints/last.pt").write_bytes(b"torn write")
    (run / "videos/.step=400.mp4.x1y2.tmp").write_bytes(b"half a video")
    assert Trainer(compose_cfg(*FILMED), run).run()["step"] == 400
    assert sorted(p.name for p in (run / "videos").iterdir()) == ["step=200.mp4", "step=400.mp4"]
    for step, path in run_videos(run).items():
        np.testing.assert_array_equal(read_mp4(path)[0], before[step])
    assert list(pd.read_csv(run / "eval.csv")["step"]) == [200, 400]


def test_evaluate_reproduces_the_final_evaluation_and_writes_only_evaluations(filmed_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(filmed_run, run, ignore=shutil.ignore_patterns("evaluations"))
    before = _snapshot(run)
    proc = subprocess.run([sys.executable, "-m", "ace.evaluate", str(run), "--video"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "EGLError" not in proc.stderr
    after = _snapshot(run)
    assert {k: v for k, v in after.items() if not k.startswith("evaluations/")} == before
    results = list((run / "evaluations").glob("*.json"))
    assert len(results) == 1
    result = json.loads(results[0].read_text())
    final = pd.read_csv(run / "eval.csv").iloc[-1]
    assert result["checkpoint_step"] == 400 and result["episodes"] == 2 and result["policy"] == "deterministic"
    assert result["return"]["mean"] == final["return"] and result["success"]["mean"] == final["success"]
    assert result["return"]["low"] <= result["return"]["mean"] <= result["return"]["high"]
    assert f"return  {final['return']:.2f}" in proc.stdout and "bootstrap CI" in proc.stdout
    # The same policy on the same first episode: the run's own video of that evaluation, frame for frame.
    frames, _ = read_mp4(run / "evaluations" / result["video"])
    np.testing.assert_array_equal(frames, read_mp4(run / "videos/step=400.mp4")[0])


def test_a_run_configured_for_a_gpu_is_evaluated_on_the_cpu(filmed_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(filmed_run, run, ignore=shutil.ignore_patterns("evaluations"))
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.device, cfg.agent.precision, cfg.agent.compile = "cuda", "tf32", "reduce-overhead"
    OmegaConf.save(cfg, run / "config.yaml")
    result = evaluate_run(run)
    assert result["device"] == "cpu" and result["precision"] == "fp32" and "precision=tf32" in result["notes"][0]
    assert result["return"]["mean"] == pd.read_csv(run / "eval.csv")["return"].iloc[-1]  # it trained in fp32


def test_a_run_may_resume_with_other_video_settings(filmed_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(filmed_run, run, ignore=shutil.ignore_patterns("evaluations"))
    (run / "final.json").unlink()
    saved = OmegaConf.load(run / "config.yaml")
    del saved.eval["video"]  # a run made before videos existed
    OmegaConf.save(saved, run / "config.yaml")
    assert Trainer(compose_cfg(*FILMED, "eval.video.fps=10"), run).step == 400


def test_evaluate_refuses_a_folder_without_a_checkpoint(filmed_run, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(filmed_run / "config.yaml", run / "config.yaml")
    assert evaluate_main([str(run), "--video"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"error: {run} has no checkpoint (checkpoints/last.pt): nothing to evaluate"]
    assert list(run.iterdir()) == [run / "config.yaml"]


def test_a_run_that_cannot_render_trains_on_and_warns_once(filmed_run, tmp_path):
    run = tmp_path / "run"
    # MuJoCo without OpenGL: no backend can render (as on a machine without EGL and OSMesa).
    proc = run_cli(*FILMED, f"hydra.run.dir={run}", cwd=tmp_path, env={"MUJOCO_GL": "disable"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    warnings = [line for line in out.splitlines() if "video off" in line]
    assert len(warnings) == 1 and "MUJOCO_GL=disable" in warnings[0], out[-3000:]
    assert "Traceback" not in out
    assert (run / "final.json").exists() and run_videos(run) == {}
    for name, numbers in _numbers(filmed_run).items():  # the same numbers as the run that did film
        pd.testing.assert_frame_equal(_numbers(run)[name], numbers, check_exact=True)


def test_films_every_nth_evaluation_and_the_final_one(tmp_path):
    cfg = OmegaConf.create({"enabled": True, "every": 5, "size": 64, "fps": 30})
    videos = EvalVideos(cfg, tmp_path, "metaworld", eval_every=5000, total_steps=52_000)
    assert [s for s in range(5000, 52_001, 1000) if videos.due(s)] == [25_000, 50_000, 52_000]
    off = EvalVideos(OmegaConf.merge(cfg, {"enabled": False}), tmp_path, "metaworld", 5000, 52_000)
    assert not any(off.due(s) for s in (25_000, 52_000))


@pytest.mark.parametrize(("override", "message"), [
    ("eval.video.size=100", "eval.video.size=100 must be a multiple of 16"),
    ("eval.video.every=0", "eval.video.every=0 must be a positive integer"),
    ("eval.video.enabled=maybe", "eval.video.enabled='maybe' must be true or false"),
])
def test_bad_video_settings_are_refused_with_one_message(override, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose_cfg(override))


def test_gl_backend_is_chosen_before_mujoco_is_imported(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delitem(sys.modules, "mujoco", raising=False)
    monkeypatch.setattr(render_module, "GL_BACKENDS", {"egl": (("ace-no-such-library",),)})
    assert render_module.choose_gl_backend() == "disable" and os.environ["MUJOCO_GL"] == "disable"
    monkeypatch.setenv("MUJOCO_GL", "osmesa")  # the user's choice is kept
    assert render_module.choose_gl_backend() == "osmesa"
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setitem(sys.modules, "mujoco", object())  # too late to choose: nothing is set
    assert render_module.choose_gl_backend() is None and "MUJOCO_GL" not in os.environ


DOMAIN_TASKS = ["metaworld/reach", "mujoco/hopper", "dmc/cheetah-run", "adroit/door", "shadowhand/egg-rotate",
                "panda/reach", "robel/dkitty-stand-random"]


@pytest.mark.parametrize("name", DOMAIN_TASKS)
def test_each_domain_renders_its_task_without_touching_the_simulation(name):
    cfg = compose_cfg(f"env={name}").env
    try:
        env = make_env(cfg, seed=3)
    except MissingDependencyError as e:
        pytest.skip(str(e))
    actions = [np.random.default_rng(i).uniform(-1, 1, env.action_space.shape).astype(np.float32) for i in range(2)]

    def episode(renderer=None):
        obs, _ = env.reset(seed=3)
        trace, frames = [obs], [renderer.render()] if renderer else []
        for a in actions:
            obs, reward, *_ = env.step(a)
            trace.append(np.append(obs, reward))
            if renderer:
                frames.append(renderer.render())
        return trace, frames

    plain, _ = episode()
    env.reset(seed=3)
    try:
        renderer = open_renderer(cfg.domain, env, 32)
    except RenderUnavailable as e:
        pytest.skip(f"{name} cannot render here: {e}")
    try:
        filmed, frames = episode(renderer)
    finally:
        renderer.close()
    for a, b in zip(plain, filmed, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(frames) == 3 and all(f.shape == (32, 32, 3) and f.dtype == np.uint8 for f in frames)
    assert frames[0].std() > 5  # a scene, not a blank or single-colour frame

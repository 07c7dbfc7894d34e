"""Train ACE (or SAC, or an ablation) on one task: ``python src/run.py env=metaworld/reach seed=1..5 -m``.

See README.md for the config groups and keys.
"""

from __future__ import annotations

import errno
import logging
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent
CONF_DIR = SRC.parent / "conf"
sys.path.insert(0, str(SRC))

from ace.cli import check_output_folder, preprocess  # noqa: E402
from ace.errors import BadInputError, RunError  # noqa: E402

try:
    sys.argv = [sys.argv[0], *preprocess(sys.argv[1:], CONF_DIR)]
    check_output_folder(sys.argv[1:], CONF_DIR)
except BadInputError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(e.exit_code)

import hydra  # noqa: E402

from ace.config import register_resolvers  # noqa: E402

register_resolvers()
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

log = logging.getLogger("ace")


#: File system errors that are the user's to fix (full disk, quota, permissions): one line, exit 2.
USER_FIXABLE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    from ace.envs.render import choose_gl_backend
    from ace.runner import train

    if cfg.eval.video.enabled:
        choose_gl_backend()  # before MuJoCo is imported: it fixes its OpenGL backend once, at import
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    try:
        summary = train(cfg, run_dir, list(hc.overrides.task), hc.launcher.get("signal_delay_s"))
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except OSError as e:
        if e.errno not in USER_FIXABLE_ERRNOS:
            raise
        print(f"error: {e.strerror}: {e.filename or run_dir}", file=sys.stderr)
        sys.exit(2)
    log.info("run folder: %s (final eval return %.2f, success %.2f)",
             summary["run_dir"], summary["return"], summary["success"])
    return summary["success"]


if __name__ == "__main__":
    main()

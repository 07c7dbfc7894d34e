"""What `make gpu-check` carries to a GPU machine, and what that machine already has.

The GPU machine has no network and none of the project's dependencies except those of its image
(a CUDA torch, numpy, pandas, scikit-learn, pytest, ...). The check needs MuJoCo, Meta-World,
gymnasium, Hydra and OmegaConf on top: their wheels (and those of their dependencies that the image
lacks) are downloaded here by ``gpu_check/fetch.py`` and installed there into a temporary folder.
``tests/test_gpu_check.py`` proves that this list is complete: every requirement of a carried wheel,
and every module the check imports, is carried or in the image.
"""

from __future__ import annotations

import re
from pathlib import Path

#: The machine's Python and wheel platforms (manylinux x86-64; pip matches each tag exactly).
PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
#: PEP 508 marker values of that machine, to decide which conditional requirements apply there.
MARKER_ENV = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
              "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
              "implementation_name": "cpython", "platform_python_implementation": "CPython"}

#: Carried wheels, pinned to the versions this repository's test suite runs with.
WHEELS = {
    "antlr4-python3-runtime": "4.9.3",  # omegaconf's and hydra's grammar runtime
    "farama-notifications": "0.0.6",  # gymnasium
    "glfw": "2.11.0",  # mujoco; gymnasium's MuJoCo renderer imports it (the library loads without X11)
    "gymnasium": "1.4.0",
    "hydra-core": "1.3.8",
    "metaworld": "3.1.1",
    "mujoco": "3.3.0",
    "omegaconf": "2.3.1",
    "pyopengl": "3.1.10",  # mujoco declares it; not imported with MUJOCO_GL=disable (states only)
}
#: No wheel on PyPI (sdist only): built here by ``pip wheel`` as a pure-Python wheel.
BUILT_HERE = frozenset({"antlr4-python3-runtime"})

#: The project's dependencies that stay behind, and why the check does not need them.
LEFT_BEHIND = {
    "dm-control": "DeepMind Control tasks only; the check trains on Meta-World",
    "gymnasium-robotics": "Adroit and Shadow Hand tasks only",
    "hydra-submitit-launcher": "SLURM launcher only",
    "submitit": "SLURM launcher only",
    "lingam": "the reference causal backend; the check fits with the fast backend",
    "wandb": "the check runs with wandb.mode=disabled",
    "imageio-ffmpeg": "evaluation videos only; the check runs with eval.video.enabled=false (and no OpenGL)",
}

#: The GPU image's Python packages ('nvidia-h200', image 'cuda', as read on 2026-11-17; versions where
#: a session saw them). A package listed here is never carried.
IMAGE_VERSIONS = {"numpy": "2.5.2", "torch": "2.11.0", "triton": "3.6.0"}
IMAGE_PACKAGES = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy peft
pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split())


def canonical(name: str) -> str:
    """PEP 503 name: ``Typing_Extensions`` and ``typing-extensions`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_filename_parts(filename: str) -> tuple[str, str]:
    """``(canonical name, version)`` of a wheel file name (PEP 427: name-version[-build]-py-abi-platform.whl)."""
    parts = filename.removesuffix(".whl").split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise ValueError(f"not a wheel file name: {filename}")
    return canonical(parts[0]), parts[1]


def pinned_wheels(folder: Path) -> dict[str, Path]:
    """``canonical name -> wheel file`` of the pinned versions in ``folder`` (other files are not looked at)."""
    found = {}
    for path in sorted(folder.glob("*.whl")) if folder.is_dir() else []:
        name, version = wheel_filename_parts(path.name)
        if WHEELS.get(name) == version:
            found[name] = path
    return found

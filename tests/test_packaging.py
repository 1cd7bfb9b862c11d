"""The built wheel is the product: installed outside the checkout, it must answer with citations.

An editable install reads prompts/ from the checkout, which hides a wheel that forgot them; so
this builds the wheel, installs it (without dependencies) into a fresh virtual environment in a
temporary folder, lends it this environment's dependencies through a .pth file, and asks the
seed question from a folder that holds no checkout.
"""

from __future__ import annotations

import json
import site
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT, SEED_QUESTION, SEEDS


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("assistant-*.whl")
    return whl


def test_wheel_carries_prompts_and_one_version(wheel):
    import assistant

    names = zipfile.ZipFile(wheel).namelist()
    prompts = {n.split("/")[-1] for n in names if n.startswith("assistant/prompts/")}
    assert prompts == {p.name for p in (ROOT / "prompts").glob("*.md")}
    assert "assistant/integrations/llama_index.py" in names
    assert wheel.name.startswith(f"assistant-{assistant.__version__}-")


@pytest.mark.llm
def test_installed_wheel_answers_the_seed_question(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    target = subprocess.run(
        [str(py), "-c", "import site; print(site.getsitepackages()[0])"], check=True, capture_output=True, text=True
    ).stdout.strip()
    (venv / target / "deps.pth").write_text(site.getsitepackages()[0] + "\n")  # dependencies, not the checkout

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(__import__("pathlib").Path.home()),
        "ASSISTANT_INDEX_DIR": str(work / "index"),
    }
    run = lambda *args: subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=600)  # noqa: E731
    where = run(str(py), "-c", "import assistant; print(assistant.__file__)")
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr
    assert run(str(venv / "bin" / "assistant"), "ingest", str(SEEDS)).returncode == 0
    proc = run(str(venv / "bin" / "assistant"), "ask", SEED_QUESTION, "--json")
    assert proc.returncode == 0, proc.stderr[-1000:]
    answer = json.loads(proc.stdout)
    assert not answer["refused"] and answer["citations"], answer

"""The package installs with pip into a fresh virtual environment and finds its bundled data."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_pip_install_into_fresh_venv_works_from_any_directory(tmp_path):
    # A copy of the tracked files, so the build leaves nothing in the checkout.
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / "src"
    for f in files:
        if (ROOT / f).is_file():
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    venv = tmp_path / "venv"
    # The venv sees the already installed dependencies; ul4m4 itself must come from this install.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(src)],
                   check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = "import ul4m4; d = ul4m4.load_dataset('mfeat'); print(ul4m4.__file__); print(d.n_samples, d.n_modalities)"
    out = subprocess.run([str(py), "-c", code], cwd=elsewhere, capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0].startswith(str(venv)), f"ul4m4 was imported from {out[0]}, not from the fresh install"
    assert out[1] == "2000 6"
    # The console script is installed and runs.
    cli = subprocess.run([str(venv / "bin" / "ul4m4"), "--help"], cwd=elsewhere, capture_output=True, text=True)
    assert cli.returncode == 0 and "sweep" in cli.stdout


def test_ci_runs_the_readme_test_line_which_covers_the_slow_tests():
    """README's second quickstart command is what .ci/run runs, verbatim, and it runs the tests the default
    `pytest` leaves out (marked slow) as well as the default suite."""
    import re

    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    test_line = blocks[1].strip()
    assert test_line in (ROOT / ".ci" / "run").read_text()
    assert test_line.endswith("python3 -m pytest && python3 -m pytest -m slow")
    files = ["tests/test_packaging.py"]  # a slow and a default test; collecting every file takes 10 s
    def collected(*marks):
        out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                              *marks, *files], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 0, out.stdout[-1000:]
        return [line for line in out.stdout.splitlines() if "::" in line]

    slow, default = collected("-m", "slow"), collected()
    assert "tests/test_packaging.py::test_pip_install_into_fresh_venv_works_from_any_directory" in slow
    assert default == ["tests/test_packaging.py::test_ci_runs_the_readme_test_line_which_covers_the_slow_tests"]

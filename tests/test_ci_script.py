"""``.ci/run`` finds the README's two commands: a script that cannot read them fails CI before any test."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _block(name: str) -> str:
    match = re.search(
        rf"<!-- {name} -->\n```bash\n(.*?)\n```\n<!-- /{name} -->", (ROOT / "README.md").read_text(), re.S
    )
    assert match, f"README.md has no {name} block"
    return match.group(1)


def test_ci_runs_the_readme_commands_verbatim():
    result = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run"), "--print-commands"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [_block("main-command"), _block("test-command")]


def test_ci_starts_from_a_fresh_virtual_environment():
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"python3 -m venv \"\$scratch/venv\"", script) and '. "$scratch/venv/bin/activate"' in script
    # the environment is made and activated before either command runs
    assert (
        script.index("bin/activate") < script.index('bash -c "$main_command"') < script.index('bash -c "$test_command"')
    )

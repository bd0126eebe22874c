"""Write the folder a Hugging Face Space runs as it is: this folder's app and Space files, and the
``songgen_hf`` package (its embedded default model included) beside ``app.py``.

songgen-hf is on no package index, so a Space build cannot install it from ``requirements.txt``; the
folder carries it instead, laid out as an install lays it out (``modeling/`` and ``pipelines/`` inside
``songgen_hf/``), and ``python app.py`` imports it from the app's own folder.  ``requirements.txt``
names the package's own dependencies.  Then upload the folder as the Space::

    python space/build_space.py build/space
    hf upload YOUR_NAME/songgen build/space . --repo-type space
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SPACE = Path(__file__).resolve().parent
SPACE_FILES = ("app.py", "README.md", "requirements.txt", "packages.txt")
# where each import root lives in the repository (setup.py's package_dir)
PACKAGE_ROOTS = {"songgen_hf": "songgen_hf", "songgen_hf/modeling": "modeling", "songgen_hf/pipelines": "pipelines"}
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def build(output: str | Path) -> Path:
    """Write the Space folder at ``output`` (which must not exist or be empty); returns its path."""
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ValueError(
            f"{output} already exists and is not an empty folder; give a new folder (this command "
            "writes a whole Space and never replaces files it did not write)."
        )
    output.mkdir(parents=True, exist_ok=True)
    for name in SPACE_FILES:
        shutil.copy2(SPACE / name, output / name)
    for target, source in PACKAGE_ROOTS.items():  # the import root first: the sub-packages go inside it
        shutil.copytree(REPOSITORY / source, output / target, ignore=SKIPPED, dirs_exist_ok=True)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="a new (or empty) folder to write the Space into")
    args = parser.parse_args(argv)
    try:
        folder = build(args.output)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote the Space to {folder}; upload it with: hf upload YOUR_NAME/SPACE {folder} . --repo-type space")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m songgen_hf.cli``: the ``songgen`` command (:mod:`songgen_hf.commands.cli`) as a module to run, which is
how ``accelerate launch -m songgen_hf.cli`` and ``torchrun -m songgen_hf.cli`` start it in several processes."""

from songgen_hf.commands.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

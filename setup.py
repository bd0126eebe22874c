"""Packaging for songgen-hf.

The repository keeps the user's layout: the import root ``songgen_hf/`` holds the
public API and tooling, while the neural-network code lives in top-level
``modeling/`` and the pipelines in top-level ``pipelines/``.  ``package_dir``
maps those two folders *into* the import root, so both an editable install and a
built wheel import them as ``songgen_hf.modeling`` and ``songgen_hf.pipelines``.
"""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# import root -> folder on disk
ROOTS = {
    "songgen_hf": "songgen_hf",
    "songgen_hf.modeling": "modeling",
    "songgen_hf.pipelines": "pipelines",
}


def _packages():
    packages, package_dir = [], {}
    for import_name, folder in ROOTS.items():
        packages.append(import_name)
        package_dir[import_name] = folder
        for sub in find_packages(where=folder):
            if import_name == "songgen_hf" and sub.split(".")[0] in ("modeling", "pipelines"):
                continue
            packages.append(f"{import_name}.{sub}")
            package_dir[f"{import_name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


packages, package_dir = _packages()

# Every import of the package, the Space, the tests and the benchmarks is declared here
# (tests/test_declared_dependencies.py checks it); CI installs into an empty environment.
# the app preloads matplotlib (gradio switches to it per event) and bounds uploads with a starlette middleware
SPACE = ["gradio>=5.0", "matplotlib>=3.7", "starlette>=0.40"]
EVAL = [
    "matplotlib>=3.7",
    "librosa>=0.10",
    "mir_eval>=0.7",
    "pocketsphinx>=5.0",  # pocketsphinx: model in the wheel
    "silero-vad>=5.0",
]  # silero-vad: model in the wheel
# `songgen data prepare`: separation (demucs 4.1 loads its models from the Hub), VAD (its model ships
# in the wheel), BS.1770 loudness, tempo/key
PREPARE = ["demucs>=4.1", "silero-vad>=5.0", "pyloudnorm>=0.1", "librosa>=0.10"]
# int8 weights through transformers' TorchAoConfig (`songgen generate --quantize int8`); transformers' own floor
QUANTIZE = ["torchao>=0.15"]
TEST_TOOLS = [
    "pytest>=8.0",
    "pytest-xdist>=3.0",
    "httpx>=0.24",
    "hypothesis>=6.0",
    "psutil>=5.9",
    "setuptools>=68",
    "ruff>=0.17,<0.18",
]  # a formatter's style changes between minor releases: CI checks with this one
EXTRAS = {
    "space": SPACE,
    "eval": EVAL,
    "prepare": PREPARE,
    "quantize": QUANTIZE,
    "dev": sorted(set(SPACE + EVAL + PREPARE + QUANTIZE + TEST_TOOLS)),
}

setup(
    name="songgen-hf",
    version="0.1.0.dev0",
    description="Hugging Face-native SongGen text-to-song generation with an X-Codec audio codec",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=packages,
    package_dir=package_dir,
    include_package_data=True,
    package_data={"songgen_hf": ["py.typed", "assets/**/*", "templates/*.md"]},
    install_requires=[
        # Install torch first (see README): an unconstrained resolver may pick a CUDA build.
        "torch>=2.6",
        # sub-config specs (SubConfigSpec, create_subconfig); 5.20 and older fail at import or config build.
        "transformers>=5.21",
        # 5.24 renamed the cache keyword past_key_values -> cache: both sides work
        # (modeling/songgen/preallocated_cache.py)
        "huggingface-hub>=1.0",
        "safetensors>=0.4",
        "accelerate>=1.0",
        "datasets>=4.0",
        # datasets decodes audio with torchcodec (generate-many's folders read back with load_dataset("audiofolder"));
        # each torchcodec release loads beside one torch release only: 0.13 pairs with the README's torch 2.13
        # (0.17 fails to load there). Its decoders need FFmpeg's libraries (the README's apt line installs ffmpeg).
        "torchcodec>=0.13,<0.14",
        "peft>=0.17",
        "soundfile>=0.12",
        "numpy>=1.26",
        "tqdm>=4.60",
        "pyyaml>=6.0",
        "scipy>=1.10",
        "tokenizers>=0.20",
        "diffusers>=0.30",  # ResGen: ResGenScheduler / ResGenPipeline follow its scheduler/pipeline conventions
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["songgen=songgen_hf.commands.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Multimedia :: Sound/Audio",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)

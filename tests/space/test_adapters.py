"""The Space started with LoRA adapters (``SONGGEN_ADAPTERS``): it lists them, offers them as the Style of a song,
switches them on the one loaded model, and names an adapter it cannot use while the page still comes up."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gradio")

from songgen_hf.testing import save_tiny_checkpoint  # noqa: E402

from ..pipelines.test_adapters import _adapter  # noqa: E402
from .test_app import _import_app  # noqa: E402

DESCRIPTION, LYRICS = "a calm folk song with a female voice", "walking home"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("space_styles")
    base = save_tiny_checkpoint(root / "base", use_voice_encoder=False)
    _adapter(base, root / "mine", seed=1)
    _adapter(base, root / "runs" / "lofi" / "final", seed=2, rank=2)
    other = save_tiny_checkpoint(root / "other", decoder={"hidden_size": 48}, use_voice_encoder=False)
    _adapter(other, root / "foreign", seed=3)
    return root


def _app(name, models, adapters, monkeypatch):
    monkeypatch.setenv("SONGGEN_ADAPTERS", adapters)
    return _import_app(name, str(models / "base"), "0")


def _song(app, style=None) -> np.ndarray:
    # greedy: a song depends only on the model and the style
    updates = list(app.generate_song(DESCRIPTION, LYRICS, 1.0, 0.0, 50, 0, 1.0, True, None, style))
    return updates[-1][1][1]


def test_the_space_lists_its_adapters_and_sings_in_the_style_asked(models, monkeypatch):
    app = _app("songgen_space_styles", models, f"mine={models / 'mine'},lofi={models / 'runs/lofi/final'}", monkeypatch)
    assert app.INFO.error is None and app.ADAPTER_ERROR is None and list(app.ADAPTERS) == ["mine", "lofi"]
    summary = app.model_summary()
    assert "**Styles (LoRA adapters):** **mine** (`mine`), **lofi** (`lofi/final`)" in summary
    assert app.style.visible and [choice[0] for choice in app.style.choices] == [app.BASE_STYLE, "mine", "lofi"]
    base = _song(app)
    mine, lofi = _song(app, "mine"), _song(app, "lofi")
    assert not np.array_equal(base, mine) and not np.array_equal(mine, lofi)
    # switching back needs no reload: the same model, its adapters off, sings the base's song again
    model = app._loaded["model"]
    np.testing.assert_array_equal(_song(app, app.BASE_STYLE), base)
    np.testing.assert_array_equal(_song(app, "mine"), mine)
    assert app._loaded["model"] is model
    # an API call that names no adapter of this Space is told which it offers
    with pytest.raises(app.gr.Error, match="Style 'jazz' is not one this Space offers: the model alone, mine, lofi"):
        list(app.generate_song(DESCRIPTION, LYRICS, 1.0, 0.0, 50, 0, 1.0, True, None, "jazz"))
    # the page's handler takes the Style as its last input (this model has no voice input)
    assert np.array_equal(
        list(app._song_in_style(DESCRIPTION, LYRICS, 1.0, 0.0, 50, 0, 1.0, True, "lofi"))[-1][1][1], lofi
    )


def test_without_adapters_the_space_offers_no_style(models, monkeypatch):
    app = _app("songgen_space_no_styles", models, "", monkeypatch)
    assert app.ADAPTERS == {} and not app.style.visible and "Styles" not in app.model_summary()


def test_an_adapter_of_another_model_is_named_and_the_model_runs_alone(models, monkeypatch):
    app = _app("songgen_space_foreign", models, f"mine={models / 'mine'},foreign={models / 'foreign'}", monkeypatch)
    assert app.INFO.error is None and app.ADAPTERS == {}
    assert (
        app.ADAPTER_ERROR.startswith("The adapters in SONGGEN_ADAPTERS are not used:")
        and "foreign" in app.ADAPTER_ERROR
    )
    assert app.ADAPTER_ERROR in app._notice() and not app.style.visible
    assert len(_song(app)) > 0


def test_adapters_of_the_heads_load_onto_float_heads_where_the_base_recommends_int8(models, tmp_path, monkeypatch):
    """A base recommending int8 token heads on a CPU: the Space holds its heads float under an adapter that adapts
    them (the default targets) and sings in its style; with layer-only adapters it keeps the recommendation."""
    import json
    import shutil

    import torch
    from peft.tuners.lora import LoraLayer

    from songgen_hf.modeling.songgen.quantization import Int8Linear, check_int8_kernel

    base = shutil.copytree(models / "base", tmp_path / "base")
    generation = json.loads((base / "generation_config.json").read_text())
    (base / "generation_config.json").write_text(json.dumps({**generation, "cpu_quantize": "int8-heads"}))
    _adapter(base, tmp_path / "heads", seed=4)
    _adapter(base, tmp_path / "layers", seed=5, targets=["self_attn", "encoder_attn", "ffn"])
    monkeypatch.setenv("SONGGEN_ADAPTERS", f"heads={tmp_path / 'heads'}")
    app = _import_app("songgen_space_head_styles", str(base), "0")
    assert app.ADAPTER_ERROR is None
    assert not np.array_equal(_song(app, "heads"), _song(app))
    head = app._loaded["model"].decoder.lm_heads[0]
    assert isinstance(head, LoraLayer) and type(head.base_layer) is torch.nn.Linear
    if check_int8_kernel("cpu") is None:  # the recommendation applies where this CPU runs it
        monkeypatch.setenv("SONGGEN_ADAPTERS", f"layers={tmp_path / 'layers'}")
        app = _import_app("songgen_space_layer_styles", str(base), "0")
        _song(app, "layers")
        assert type(app._loaded["model"].decoder.lm_heads[0]) is Int8Linear


def test_a_style_that_records_its_songs_tempo_streams_the_pipelines_song_and_says_the_tempo(tmp_path, monkeypatch):
    """An adapter's recorded tempo (``style_tempo_bpm``) is asked once, by the function the pipeline asks: the Space's
    reading says the tempo the song is made at, and an instrumental song, which the Space streams itself, is the
    pipeline's song for the seed."""
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.training.lora import write_style_tempo

    controls = {"use_tempo_control": True, "use_key_control": True, "use_arrangement_control": True}
    base = save_tiny_checkpoint(tmp_path / "base", decoder=controls, use_voice_encoder=False)
    write_style_tempo(_adapter(base, tmp_path / "mine", seed=1), 96.0)
    monkeypatch.setenv("SONGGEN_ADAPTERS", f"mine={tmp_path / 'mine'}")
    app = _import_app("songgen_space_style_tempo", str(base), "0")
    updates = list(app.generate_song(DESCRIPTION, "", 1.0, 0.0, 50, 0, 1.0, True, None, "mine"))
    assert "96" in updates[-1][-1]  # what was understood, as shown
    pipe = load_text_to_song_pipeline(str(base), adapters={"mine": str(tmp_path / "mine")})
    pipe.set_progress_bar_config(disable=True)
    kwargs = app._generate_kwargs(1.0, 0.0, 50, 1.0, True)  # the Space's settings, as it hands them on
    made = pipe({"description": DESCRIPTION, "lyrics": ""}, seed=0, adapter="mine", **kwargs)
    assert made["understood"]["tempo_bpm"] == 96.0
    streamed = updates[-1][1][1].astype(np.float32) / 32767
    assert streamed.shape == made["audio"].reshape(-1).shape
    assert np.abs(streamed - made["audio"].reshape(-1)).max() <= 2 / 32767


def test_a_gated_style_streams_the_pipelines_song_and_says_what_the_gate_chose(tmp_path, monkeypatch):
    """An adapter that records a description gate: the Space asks the pipeline's one function, so a description far
    from the adapter's songs streams the base's song (the pipeline's for the seed) and the reading says the gate."""
    from songgen_hf.pipelines import load_text_to_song_pipeline
    from songgen_hf.pipelines.description_gate import gate_record, write_description_gate
    from songgen_hf.training.lane import GATE_REFERENCE_DESCRIPTIONS

    from ..pipelines.test_description_gate import STYLE

    base = save_tiny_checkpoint(tmp_path / "base", use_voice_encoder=False)
    write_description_gate(_adapter(base, tmp_path / "mine", seed=1), gate_record(STYLE, GATE_REFERENCE_DESCRIPTIONS))
    monkeypatch.setenv("SONGGEN_ADAPTERS", f"mine={tmp_path / 'mine'}")
    app = _import_app("songgen_space_gate", str(base), "0")
    updates = list(app.generate_song(DESCRIPTION, "", 1.0, 0.0, 50, 0, 1.0, True, None, "mine"))
    assert "Style: the base alone (description gate: mine x0)" in updates[-1][-1]
    pipe = load_text_to_song_pipeline(str(base), adapters={"mine": str(tmp_path / "mine")})
    pipe.set_progress_bar_config(disable=True)
    kwargs = app._generate_kwargs(1.0, 0.0, 50, 1.0, True)
    made = pipe({"description": DESCRIPTION, "lyrics": ""}, seed=0, adapter="mine", **kwargs)
    assert made["adapter_gate"] == {"mine": 0.0}
    plain = pipe({"description": DESCRIPTION, "lyrics": ""}, seed=0, adapter=None, **kwargs)["audio"]
    assert np.array_equal(made["audio"], plain)
    streamed = updates[-1][1][1].astype(np.float32) / 32767
    assert np.abs(streamed - made["audio"].reshape(-1)).max() <= 2 / 32767

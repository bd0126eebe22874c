"""Before any audio is processed: is every model there (``preflight``), and what would a run do (``--dry-run``)?

Neither loads a model.  A model is "local" (a folder or file), "cached" (in the Hugging Face
cache), "download" (online: fetched on first use) or "missing" (offline and not cached: the run
stops with the download command before touching any song).  ``--clap-model auto`` (the default)
uses the default CLAP model when it is local or cached or the machine is online, and no CLAP
filter otherwise.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from songgen_hf.data.prepare.decode import find_songs
from songgen_hf.data.prepare.describe import DEFAULT_CLAP_MODEL
from songgen_hf.data.prepare.models import is_local, is_offline, require
from songgen_hf.data.prepare.options import AUTO, PrepareOptions
from songgen_hf.data.prepare.separation import separation_repo
from songgen_hf.data.prepare.stages import Context


def _hub_status(repo_id: str, filename: str) -> str:
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, filename), str):
        return "cached"
    return "missing" if is_offline() else "download"


def model_status(kind: str, reference: str, trust: bool = False) -> dict[str, str]:
    """Where ``reference`` would be loaded from, without loading it; "refused" for a separation model of an
    unknown Hub publisher without ``trust`` (``--trust-separation-model``)."""
    if is_local(reference):
        return {"model": reference, "status": "local"}
    if kind == "separation":
        try:
            repo_id, name = separation_repo(reference, trust)
        except ValueError as error:
            return {"model": reference, "status": "refused", "why": str(error)}
        filename = f"{name}.yaml"
        return {
            "model": reference,
            "repo": repo_id,
            "status": _hub_status(repo_id, filename),
            "download": f"hf download {repo_id}",
        }
    return {"model": reference, "status": _hub_status(reference, "config.json"), "download": f"hf download {reference}"}


def models_needed(options: PrepareOptions, ctx: Context | None = None) -> list[tuple[str, str]]:
    ctx = ctx or Context(Path("."), options)
    needed = []
    if ctx.separator is None:
        needed.append(("separation", options.separation_model))
    if ctx.recognisers is None:
        needed.append(("speech recognition", options.asr_model))
        if options.second_asr_model:
            needed.append(("second speech recognition", options.second_asr_model))
    if ctx.clap is None and options.clap_model and options.clap_model != AUTO:
        needed.append(("CLAP", options.clap_model))
    return needed


def resolve_clap(options: PrepareOptions) -> dict[str, str]:
    """Turn ``auto`` into the default CLAP model when it can be had, else None (no filter)."""
    status = model_status("CLAP", DEFAULT_CLAP_MODEL)
    options.clap_model = None if status["status"] == "missing" else DEFAULT_CLAP_MODEL
    return status


def preflight(options: PrepareOptions, ctx: Context) -> None:
    """Stop before any work when an optional library or a model is missing."""
    for module in ("silero_vad", "pyloudnorm", "librosa"):
        require(module)
    if ctx.separator is None:
        require("demucs")
    if ctx.clap is None and options.clap_model == AUTO:
        status = resolve_clap(options)
        if options.clap_model is None:
            ctx.note(
                "CLAP filter off",
                f"{DEFAULT_CLAP_MODEL} is not cached and the machine is offline ({status['download']} enables it)",
            )
    for kind, reference in models_needed(options, ctx):
        status = model_status(kind, reference, options.trust_separation_model)
        if status["status"] == "refused":
            raise ValueError(status["why"])
        if status["status"] == "missing":
            how = status.get("download") or status.get("why", "")
            raise ValueError(
                f"The {kind} model {reference!r} is not available offline (HF_HUB_OFFLINE=1 and not in the "
                f"Hugging Face cache). Download it once while online ({how}), or pass a local folder."
            )


def _duration(path: Path) -> float | None:
    import soundfile as sf

    try:
        return sf.info(str(path)).duration if path.stat().st_size else None
    except (RuntimeError, sf.LibsndfileError):
        return None  # perhaps decodable through librosa; the decode stage will tell


def dry_run(songs: str | Path, output: str | Path, options: PrepareOptions) -> dict[str, Any]:
    """The plan: songs with their lyrics/tags files, estimated clips, models and where they would load from."""
    found = find_songs(songs)
    slicing = options.slicing
    entries, total_clips, total_seconds = [], 0, 0.0
    for song in found:
        duration = _duration(song.path)
        clips = (
            0
            if duration is None or duration < slicing.min_seconds
            else max(1, math.floor(duration / slicing.target_seconds))
        )
        total_clips += clips
        total_seconds += duration or 0.0
        done = sorted(p.stem for p in (Path(output) / "work" / song.id).glob("*.json"))
        entries.append(
            {
                "song": str(song.path),
                "id": song.id,
                "seconds": None if duration is None else round(duration, 2),
                "lyrics_file": None if song.lyrics_path is None else str(song.lyrics_path),
                "tags": song.tags,
                "estimated_clips": clips,
                "stages_done_before": done,
            }
        )
    models = [
        {"role": kind, **model_status(kind, ref, options.trust_separation_model)}
        for kind, ref in models_needed(options)
    ]
    if options.clap_model == AUTO:
        models.append({"role": "CLAP (auto: off when unavailable)", **model_status("CLAP", DEFAULT_CLAP_MODEL)})
    models.append({"role": "voice activity", "model": "silero-vad (inside the silero-vad package)", "status": "local"})
    return {
        "songs": entries,
        "total_songs": len(entries),
        "total_minutes": round(total_seconds / 60, 2),
        "estimated_clips": total_clips,
        "models": models,
        "output": str(output),
        "settings": json.loads(json.dumps(options.to_dict(), default=str)),
    }


def format_plan(plan: dict[str, Any]) -> str:
    lines = [
        f"{plan['total_songs']} songs, {plan['total_minutes']} minutes -> about {plan['estimated_clips']} clips "
        f"in {plan['output']}"
    ]
    for entry in plan["songs"]:
        length = "unreadable by soundfile" if entry["seconds"] is None else f"{entry['seconds']:.1f} s"
        extra = (" + lyrics" if entry["lyrics_file"] else "") + (f" + tags {entry['tags']}" if entry["tags"] else "")
        done = f" (done: {', '.join(entry['stages_done_before'])})" if entry["stages_done_before"] else ""
        lines.append(f"  {entry['song']}: {length}, ~{entry['estimated_clips']} clips{extra}{done}")
    lines.append("models (none is loaded by --dry-run):")
    for model in plan["models"]:
        hint = f" -> {model['download']}" if model["status"] == "missing" and model.get("download") else ""
        hint = f" -> {model['why']}" if model["status"] == "refused" else hint
        lines.append(f"  {model['role']}: {model['model']} [{model['status']}]{hint}")
    return "\n".join(lines)


__all__ = ["dry_run", "format_plan", "model_status", "models_needed", "preflight", "resolve_clap"]

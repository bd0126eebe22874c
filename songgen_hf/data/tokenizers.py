"""``songgen data tokenizers``: train both tokenizers of a fresh SongGen on a corpus manifest.

A model trained from scratch (the embedded default, or any model on a new corpus) needs a
description tokenizer (Unigram with T5's special tokens) and a VoiceBPE lyrics vocabulary
that fit the corpus's captions and lyrics.  Both land in one folder, in the
``description_tokenizer/`` and ``lyrics_tokenizer/`` layout that ``songgen train``'s
``processor`` option reads.
"""

from __future__ import annotations

from pathlib import Path

from songgen_hf.data.manifest import read_manifest_rows

DESCRIPTION_SUBFOLDER = "description_tokenizer"
LYRICS_SUBFOLDER = "lyrics_tokenizer"


def read_texts(manifest: str | Path) -> tuple[list[str], list[str]]:
    """Captions and lyrics of every row of a JSONL manifest (rows without them are skipped)."""
    path = Path(manifest)
    if path.is_dir():
        raise ValueError(f"Manifest {path} is a folder; pass the JSONL file inside it (train.jsonl or manifest.jsonl).")
    if not path.is_file():
        raise ValueError(f"Manifest {path} does not exist; pass the corpus's train.jsonl or manifest.jsonl.")
    captions, lyrics = [], []
    for row in read_manifest_rows(path):
        if isinstance(row.get("caption"), str) and row["caption"].strip():
            captions.append(row["caption"])
        if isinstance(row.get("lyrics"), str) and row["lyrics"].strip():
            lyrics.extend(line for line in row["lyrics"].splitlines() if line.strip())
    if not captions or not lyrics:
        raise ValueError(f"{path} has no {'captions' if not captions else 'lyrics'} to train a tokenizer on.")
    return captions, lyrics


def train_corpus_tokenizers(
    manifest: str | Path,
    output_dir: str | Path,
    description_vocab_size: int = 1000,
    lyrics_vocab_size: int = 512,
    description_algorithm: str = "bpe",
) -> Path:
    """Train and save both tokenizers under ``output_dir``; returns the folder.

    Vocabulary sizes above ``MAX_TOKENIZER_VOCAB_SIZE`` are refused before training: the trainers
    allocate tables sized by the vocabulary (10**9 aborts the process out of memory)."""
    from songgen_hf.commands.cli import check_count, check_path_given
    from songgen_hf.modeling.limits import MAX_TOKENIZER_VOCAB_SIZE
    from songgen_hf.modeling.songgen.tokenization_songgen import train_description_tokenizer, train_voicebpe_vocab

    # the smallest sizes are the trainers' own floors (special tokens, byte alphabet), checked by them
    check_count("--description-vocab-size", description_vocab_size, maximum=MAX_TOKENIZER_VOCAB_SIZE)
    check_count("--lyrics-vocab-size", lyrics_vocab_size, maximum=MAX_TOKENIZER_VOCAB_SIZE)
    check_path_given("--output", output_dir)
    output = Path(output_dir)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; give the name of a folder to create.")
    captions, lyrics = read_texts(manifest)
    (output / LYRICS_SUBFOLDER).mkdir(parents=True, exist_ok=True)
    train_description_tokenizer(
        captions,
        vocab_size=description_vocab_size,
        save_directory=output / DESCRIPTION_SUBFOLDER,
        algorithm=description_algorithm,
    )
    train_voicebpe_vocab(lyrics, vocab_size=lyrics_vocab_size, path=output / LYRICS_SUBFOLDER)
    return output


__all__ = ["read_texts", "train_corpus_tokenizers"]

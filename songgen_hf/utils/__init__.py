"""The package's lowest layer, which every other imports (the models included) and which imports none of them:
atomic writes and the proof of ownership (``atomic``), the one safe reader (``safe_files``), audio files
(``audio_io``), digests, thread counts, process launching and lazy exports."""

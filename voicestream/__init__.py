"""voicestream: streaming speech pipeline from audio to timed, speaker-labelled subtitles."""

__version__ = "0.1.0"

"""voicestream: streaming speech pipeline from audio to timed, speaker-labelled subtitles."""

from voicestream import privacy

privacy.apply()  # before any module of the package imports an engine (see voicestream.privacy)

__version__ = "0.1.0"

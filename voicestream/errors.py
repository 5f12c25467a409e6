"""Errors users can act on, each with its own CLI exit code.

Exception tree::

    VoicestreamError                 exit 1   base class; never raised directly
    ├── OptionError                  exit 2   an option value that cannot work
    ├── InputNotFoundError           exit 3   input path missing or unreadable
    ├── MediaDecodeError             exit 4   not media, corrupt, or unsupported
    │   └── NoAudioStreamError       exit 4   media without an audio stream
    ├── NoSpeechError                exit 5   zero-length or all-silent audio
    ├── ModelError                   exit 6   unknown model, or not available here
    ├── FfmpegMissingError           exit 7   ffmpeg/ffprobe not on PATH
    ├── OutputError                  exit 8   output path not writable / bad format
    ├── ConnectError                 exit 9   cannot reach or open a session on a server
    ├── StreamClosedError            exit 10  the server ended the session with an error
    ├── BatchIncompleteError         exit 11  some inputs of a batch failed (each in the summary)
    ├── ClusterError                 exit 12  a run on a Ray cluster failed as a whole
    └── SubtitleFileError            exit 13  a subtitle file that cannot be read as one

Exit code 2 is also argparse's usage error; 130 is Ctrl-C.
"""

from __future__ import annotations


class VoicestreamError(Exception):
    """Base class: ``str(error)`` is one line a user can act on."""

    exit_code = 1


class OptionError(VoicestreamError):
    """An option value that cannot work (unknown language, translate with an English-only model)."""

    exit_code = 2


class InputNotFoundError(VoicestreamError):
    """The input path does not exist or cannot be read."""

    exit_code = 3


class MediaDecodeError(VoicestreamError):
    """The input is not decodable media."""

    exit_code = 4


class NoAudioStreamError(MediaDecodeError):
    """The media has no audio stream."""


class NoSpeechError(VoicestreamError):
    """The audio is empty or holds no speech."""

    exit_code = 5


class ModelError(VoicestreamError):
    """A model name is unknown, or its files are not available here."""

    exit_code = 6


class FfmpegMissingError(VoicestreamError):
    """ffmpeg or ffprobe is not installed."""

    exit_code = 7


class OutputError(VoicestreamError):
    """The output cannot be written (directory missing, permissions, unknown format)."""

    exit_code = 8


class ConnectError(VoicestreamError):
    """The server cannot be reached, or refused the websocket handshake."""

    exit_code = 9


class StreamClosedError(VoicestreamError):
    """The server closed the session with an error code."""

    exit_code = 10


class BatchIncompleteError(VoicestreamError):
    """Some files of a ``transcribe`` batch failed; the others were written."""

    exit_code = 11


class ClusterError(VoicestreamError):
    """A run on a Ray cluster failed as a whole (not one file of it)."""

    exit_code = 12


class SubtitleFileError(VoicestreamError):
    """A subtitle file given as input is not SRT/WebVTT/ASS, is malformed, or holds no cue."""

    exit_code = 13

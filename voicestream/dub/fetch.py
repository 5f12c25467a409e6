"""URL inputs: fetched with yt-dlp (when the network allows) into the job cache."""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

from voicestream.errors import InputNotFoundError
from voicestream.online import reachable

_URL = re.compile(r"^https?://", re.IGNORECASE)


def is_url(text: str) -> bool:
    """Whether ``text`` is an http(s) URL rather than a path."""
    return bool(_URL.match(text))


def fetch(url: str, folder: Path) -> Path:
    """Download the best video+audio of ``url`` (merged to mp4 by ffmpeg) into ``folder``;
    an already downloaded file is reused.

    Raises:
        InputNotFoundError: yt-dlp is missing, the host cannot be reached, or the download fails.
    """
    host = urllib.parse.urlsplit(url).hostname or ""
    if not host or not reachable(host):
        raise InputNotFoundError(f"cannot fetch {url}: {host or 'the host'} cannot be reached (offline?)")
    try:
        import yt_dlp  # yt-dlp comes with the dub extra: only for URLs
    except ImportError as e:
        raise InputNotFoundError("URL inputs need yt-dlp: install voicestream with the 'dub' extra") from e
    folder.mkdir(parents=True, exist_ok=True)
    options = {
        "format": "bv*+ba/b", "merge_output_format": "mp4", "outtmpl": str(folder / "%(id)s.%(ext)s"),
        "quiet": True, "no_warnings": True, "noprogress": True, "noplaylist": True, "socket_timeout": 20,
        "retries": 2,
    }  # fmt: skip
    try:
        with yt_dlp.YoutubeDL(options) as ydl:
            info = ydl.extract_info(url, download=True)
            path = Path(ydl.prepare_filename(info)).with_suffix(".mp4")
    except Exception as e:  # yt-dlp raises DownloadError and friends for every failure
        raise InputNotFoundError(
            f"cannot fetch {url}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None
    if not path.is_file():
        raise InputNotFoundError(f"cannot fetch {url}: yt-dlp produced no file")
    return path

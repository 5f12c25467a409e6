"""Advanced SubStation Alpha (ASS) subtitles with one style per speaker, through ``pysubs2``.

Each speaker gets a style of its own (a colour, bottom centre, a black outline; cues
without a speaker use ``Default``, white) and its label as the line's actor: subtitle
editors (Aegisub, Subtitle Edit) show and restyle them per speaker, players and ffmpeg's
``subtitles`` filter render them. The script is laid out for 1920x1080 (``PlayResX/Y``);
renderers scale it to the picture.
"""

from __future__ import annotations

import pysubs2

from voicestream.messages import Cue

PLAY_RES = (1920, 1080)
DEFAULT_STYLE = "Default"
PALETTE = (
    (255, 255, 255),  # white
    (255, 255, 0),  # yellow
    (0, 255, 255),  # cyan
    (0, 255, 0),  # green
    (230, 159, 0),  # orange
    (86, 180, 233),  # sky blue
    (204, 121, 167),  # reddish purple
    (213, 94, 0),  # vermillion
)
"""Speaker colours (RGB) in order of first appearance: the broadcast captioning order (white,
yellow, cyan, green), then Okabe and Ito's colours that stay apart for colour-blind viewers."""


def _style(rgb: tuple[int, int, int]) -> pysubs2.SSAStyle:
    return pysubs2.SSAStyle(
        fontname="DejaVu Sans", fontsize=56, primarycolor=pysubs2.Color(*rgb),
        outlinecolor=pysubs2.Color(0, 0, 0), backcolor=pysubs2.Color(0, 0, 0, 128), outline=3.0, shadow=1.0,
        alignment=pysubs2.Alignment.BOTTOM_CENTER, marginl=96, marginr=96, marginv=64,
    )  # fmt: skip


def style_name(speaker: str | None) -> str:
    """The style of ``speaker``'s cues: its label (commas cannot appear in an ASS style name)."""
    return DEFAULT_STYLE if not speaker else speaker.replace(",", " ").strip() or DEFAULT_STYLE


def to_ass(cues: list[Cue]) -> str:
    """ASS text of ``cues``: a style per speaker, a dialogue line per cue (lines kept)."""
    doc = pysubs2.SSAFile()
    doc.info["PlayResX"], doc.info["PlayResY"] = (str(v) for v in PLAY_RES)
    doc.info["WrapStyle"] = "2"  # the cues' own line breaks, no re-wrapping
    doc.info["ScaledBorderAndShadow"] = "yes"
    doc.styles = {DEFAULT_STYLE: _style(PALETTE[0])}
    for cue in cues:
        name = style_name(cue.speaker)
        if name not in doc.styles:
            doc.styles[name] = _style(PALETTE[(len(doc.styles) - 1) % len(PALETTE)])
        event = pysubs2.SSAEvent(start=round(cue.start_s * 1000), end=round(cue.end_s * 1000), style=name)
        event.name = name if cue.speaker else ""  # the actor field cannot hold commas either
        event.plaintext = cue.text.replace("{", "(").replace("}", ")")  # braces would open override tags
        doc.events.append(event)
    return str(doc.to_string("ass"))

"""``voicestream dub``: transcribe, translate, re-voice and mix a clip that stays in sync."""

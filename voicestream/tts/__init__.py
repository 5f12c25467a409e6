"""Speech synthesis engines behind one Protocol (Piper, Kokoro, espeak-ng, Coqui XTTS)."""

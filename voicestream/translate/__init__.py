"""Translation of transcripts: engines (Whisper, Apertium), engine choice, subtitle layout."""

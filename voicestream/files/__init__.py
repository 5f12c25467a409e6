"""Files to subtitles: one file or a library of them, with the models loaded once."""

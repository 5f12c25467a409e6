"""Live voice translation: translated speech streamed back to the listener."""

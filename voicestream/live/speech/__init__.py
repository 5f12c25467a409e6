"""Live speech: translated sentences spoken in parts, placed on the stream clock."""

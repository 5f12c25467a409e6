"""Speaker diarization: engines (pyannote pipelines), word attribution, live labelling.

Importing this package is cheap; the engines import torch and pyannote on first use.
"""

"""voicestream on a Ray cluster: file batches on Ray Data (the live server on Ray Serve is to come)."""

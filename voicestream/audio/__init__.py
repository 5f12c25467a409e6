"""Audio building blocks shared by engines and jobs: a session's kept audio, pitch-preserving stretch, mixing."""

"""The live pipeline, runnable without a socket: a session takes audio and control calls and
produces typed events (see session.py); services.py holds what sessions share."""

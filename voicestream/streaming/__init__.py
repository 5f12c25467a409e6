"""Live streaming: wire protocol, streaming policy, sessions, the inference runner and the server."""

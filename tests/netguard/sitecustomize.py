"""Python runs this at start-up when this folder is on ``PYTHONPATH``: with
``$VOICESTREAM_NET_LOG`` set, the process records its outbound network attempts there
(see ``netrecord``)."""

import os

if os.environ.get("VOICESTREAM_NET_LOG"):
    import netrecord

    netrecord.install(os.environ["VOICESTREAM_NET_LOG"])

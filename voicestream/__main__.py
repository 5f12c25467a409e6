"""``python -m voicestream`` entry point."""

from voicestream.cli import main

raise SystemExit(main())

"""``python -m voiceadapters_bridge …`` is ``voiceadapters bridge …``."""

import sys

from .cli import main

sys.exit(main())

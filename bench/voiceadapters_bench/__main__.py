"""``python -m voiceadapters_bench``: the same command as ``voiceadapters bench``."""

import sys

from . import main

sys.exit(main())

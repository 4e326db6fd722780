"""``python -m cxstream.cli``."""

import sys

from cxstream.cli import main

sys.exit(main())

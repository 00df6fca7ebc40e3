"""`python -m clusters.local` is the same as `rcc-local`."""

import sys

from clusters.local.cli import main

sys.exit(main())

"""``python -m tnkit`` runs the ``tnkit`` command."""

import sys

from tnkit.cli import main

sys.exit(main())

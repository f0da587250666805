"""`python -m seat` is the `seat` command."""
import sys

from seat.cli import main

sys.exit(main())

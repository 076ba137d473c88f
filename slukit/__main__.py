import sys

from slukit.cli import main

sys.exit(main())

import sys

from printprep.cli import main

sys.exit(main())

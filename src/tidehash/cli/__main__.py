"""python -m tidehash.cli"""

import sys

from . import main

sys.exit(main())

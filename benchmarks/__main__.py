"""`python -m benchmarks`: measure on the lab and write benchmarks/results/latest.{json,md,png}."""

import sys

from benchmarks.run import main

sys.exit(main())

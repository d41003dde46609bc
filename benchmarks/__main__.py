"""`python -m benchmarks`: measure on the lab and write benchmarks/results/latest.{json,md,png};
`python -m benchmarks suite`: the test suite's time from its junit XML (benchmarks/suite.py)."""

import sys

from benchmarks import run, suite

if sys.argv[1:2] == ["suite"]:
    sys.exit(suite.main(sys.argv[2:]))
sys.exit(run.main())

"""`python -m amlmon.emulator.demo [--transcript FILE]` (`make demo`)."""

import sys
import time

from amlmon.emulator.demo.run import main

start = time.time()
code = main()
print(f"\ndemo finished in {time.time() - start:.0f}s")
sys.exit(code)

import sys

from gpu_smoke_checks.cli import main

sys.exit(main())

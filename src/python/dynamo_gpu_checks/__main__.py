import sys

from dynamo_gpu_checks.cli import main

sys.exit(main())

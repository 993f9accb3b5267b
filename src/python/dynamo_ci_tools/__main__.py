import sys

from dynamo_ci_tools.cli import main

sys.exit(main())

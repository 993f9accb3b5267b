import sys

from dynamo_ci_tools.report.build import main

sys.exit(main())

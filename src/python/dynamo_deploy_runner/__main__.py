import sys

from dynamo_deploy_runner.cli import main

sys.exit(main())

"""Pants plugin for single-host deployments.

Adds the `dynamo_deployment` target: `./pants run deploy:agg` packages the images its YAML
spec names (by Pants address) and starts them with the runner (src/python/dynamo_deploy_runner).
"""

from dynamo_deploy import rules as deploy_rules
from dynamo_deploy.target_types import DynamoDeploymentTarget


def target_types():
    return [DynamoDeploymentTarget]


def rules():
    return deploy_rules.rules()

"""Fixtures of the Kubernetes simulation: the manifests run 5 times faster
(`TEST_FACTOR`: probe periods 2/5/10 s -> 0.4/1/2 s, timeouts 2 s -> 0.4 s, the grace
period 45 s -> 9 s, the shutdown delay 10 s -> 2 s, the propagation delay 0-2 s ->
0-0.4 s; every ratio and inequality between them kept), the images built once."""

from __future__ import annotations

import pytest

from support.env import require_binary

from .manifest import DEPLOY_DIR
from .run import SHORT_FACTOR, make_context
from .images import HURRICANE

TEST_FACTOR = SHORT_FACTOR
SEED = 20261203


@pytest.fixture(scope="session")
def k8s(tmp_path_factory):
    """The scenarios' context: manifests scaled by TEST_FACTOR, images v1/v2, logs."""
    require_binary()
    if not (DEPLOY_DIR / "deployment.yaml").exists():
        pytest.fail(f"no Deployment at {DEPLOY_DIR}: the simulation runs the project's manifests")
    return make_context(tmp_path_factory.mktemp("k8s"), TEST_FACTOR, SEED, True, [HURRICANE])

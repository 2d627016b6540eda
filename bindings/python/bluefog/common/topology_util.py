# SPDX-License-Identifier: Apache-2.0
"""BlueFog's ``bluefog.common.topology_util`` (the generators live in bluefog.topology_util)."""
from ..topology_util import *  # noqa: F401,F403
from ..topology_util import __all__  # noqa: F401

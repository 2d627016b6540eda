# SPDX-License-Identifier: Apache-2.0
"""Entry point of ``python -m bluefog.run``."""
from . import main

main()

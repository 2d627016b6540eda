# SPDX-License-Identifier: Apache-2.0
"""BlueFog's ``bluefog.common`` import paths, for scripts that use them."""

# SPDX-License-Identifier: Apache-2.0
"""Runs test_gpu.py under pytest where a GPU is usable; elsewhere prints why not and exits 77,
which meson reports as skipped (so a machine without a GPU never counts these as passed)."""
import pathlib
import sys


def unavailable():
    try:
        import torch  # pylint: disable=import-outside-toplevel
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "torch.cuda.is_available() is False (no GPU, or a CPU-only torch)"
    import bluefog  # pylint: disable=import-outside-toplevel
    if bluefog.cuda_device_count() == 0:
        return "the engine sees no CUDA device (bluefog.cuda_device_count() is 0)"
    return None


if __name__ == "__main__":
    reason = unavailable()
    if reason:
        print(f"skipped: {reason}")
        sys.exit(77)
    import pytest  # pylint: disable=import-outside-toplevel
    here = pathlib.Path(__file__).parent
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", str(here / "test_gpu.py")]))

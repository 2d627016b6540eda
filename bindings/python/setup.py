# SPDX-License-Identifier: Apache-2.0
"""Builds the extension bluefog._bluefog for `pip install ./bindings/python`.

libbluefog comes from, in this order:
  * BLUEFOG_BUILD_DIR: a Meson build directory of this source tree (library in <dir>/src, header
    from ../../include next to this file);
  * BLUEFOG_PREFIX: an installation prefix (<prefix>/include, <prefix>/lib*);
  * pkg-config bluefog (an installed libbluefog, e.g. after `meson install`).
The extension gets an rpath to the library's directory. SWIG (swig >= 4) must be on PATH.
"""
import os
import shlex
import subprocess
from pathlib import Path

from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent


def _pkg_config(*args):
    return shlex.split(subprocess.run(["pkg-config", *args, "bluefog"], check=True,
                                      capture_output=True, text=True).stdout)


def _library_location():
    """(include_dirs, library_dirs) of libbluefog."""
    build_dir = os.environ.get("BLUEFOG_BUILD_DIR")
    if build_dir:
        return [str(HERE.parent.parent / "include")], [str(Path(build_dir).resolve() / "src")]
    prefix = os.environ.get("BLUEFOG_PREFIX")
    if prefix:
        prefix = Path(prefix).resolve()
        libs = [str(p.parent) for p in prefix.glob("lib*/**/libbluefog.so")]
        return [str(prefix / "include")], sorted(set(libs))
    try:
        includes = [flag[2:] for flag in _pkg_config("--cflags-only-I")]
        libs = [flag[2:] for flag in _pkg_config("--libs-only-L")]
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit("bluefog: libbluefog not found; set BLUEFOG_BUILD_DIR (a Meson build "
                         "directory) or BLUEFOG_PREFIX, or install it (meson install)") from error
    return includes, libs


include_dirs, library_dirs = _library_location()
swig_includes = [f"-I{d}" for d in include_dirs]

extension = Extension(
    "bluefog._bluefog",
    sources=["bluefog.i"],
    swig_opts=["-c++", "-noproxy", "-interface", "_bluefog", *swig_includes],
    include_dirs=include_dirs,
    library_dirs=library_dirs,
    runtime_library_dirs=library_dirs,
    libraries=["bluefog"],
    extra_compile_args=["-std=c++17", "-fvisibility=hidden"],
    language="c++",
)

setup(ext_modules=[extension])

"""Build hook for the optional C core; all metadata lives in pyproject.toml.

The C core (csrc/, built by src/raftfuzz/core/_build.py through cffi) only makes
runs faster: src/raftfuzz/core/twin.py gives the same results bit for bit. So a
machine without a working C compiler must still install the package: the
build_ext below turns a compiler failure into one warning line instead of a
failed install.
"""

import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

# setuptools.errors re-exports distutils' CCompilerError, CompileError,
# DistutilsExecError (ExecError) and DistutilsPlatformError (PlatformError);
# importing them from here works on Pythons without the stdlib distutils.
from setuptools.errors import CCompilerError, CompileError, ExecError, PlatformError

# Everything that means "no usable compiler here" rather than a bug in the package.
COMPILER_FAILURES = (CCompilerError, CompileError, ExecError, PlatformError, OSError)


def warn_not_built(error):
    reason = " ".join(str(error).split()) or type(error).__name__
    print(
        f"raftfuzz: C core not built ({reason}); the pure-Python core will be used",
        file=sys.stderr,
    )


class OptionalBuildExt(build_ext):
    """A build_ext whose failure leaves the package installable without the C core."""

    def run(self):
        try:
            super().run()
        except COMPILER_FAILURES as error:
            warn_not_built(error)

    def build_extension(self, extension):
        try:
            super().build_extension(extension)
        except COMPILER_FAILURES as error:
            warn_not_built(error)


setup(
    cffi_modules=["src/raftfuzz/core/_build.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt},
)

"""cffi builder for `raftfuzz.core._native`, the compiled simulation core.

API (out-of-line) mode: cffi writes a C wrapper that includes csrc/core.h and
compiles it with csrc/core.c. What cffi is told of the core is read from that
same header (header_cdef), so there is one list of declarations; its
`#define NAME ...` lines let Python read the header's constants, which tests
compare with src/raftfuzz/core/constants.py.

setup.py runs this through `cffi_modules`: `pip install -e .` builds the
extension, and `python setup.py build_ext --inplace` rebuilds it in place
while editing the C code.
"""

import re
from pathlib import Path

import cffi

# Paths stay relative to the project root: setuptools refuses absolute source paths.
CSRC = "csrc"

HEADER = Path(__file__).resolve().parents[3] / CSRC / "core.h"


def header_cdef(header: Path = HEADER) -> str:
    """What cffi needs to know of the core, read from its header, so the two
    cannot drift apart: every ``RF_`` constant as ``#define NAME ...`` (cffi
    asks the compiler for the value) and every declaration as written, with
    comments, other preprocessor lines and ``bool`` (cffi's ``_Bool``) handled."""
    text = re.sub(r"/\*.*?\*/", "", header.read_text(), flags=re.S)
    text = text.replace("\\\n", " ")  # a #define continued on the next line
    constants, declarations = [], []
    for line in text.splitlines():
        if line.startswith("#define RF_"):
            constants.append(f"#define {line.split()[1]} ...")
        elif not line.startswith("#"):
            declarations.append(re.sub(r"\bbool\b", "_Bool", line))
    return "\n".join(constants + declarations)


# cffi releases the GIL around every call into C. For the core that is pure
# cost: its calls take well under a microsecond, never block and never call
# back into Python, so releasing and retaking the GIL would cost more than
# the work it frees. The wrappers cffi generates use the two standard macros,
# and this preamble comes after Python.h and before them, so redefining the
# macros keeps the GIL held. Holding the GIL is always safe; if cffi stopped
# using the macros, calls would simply release it again.
PREAMBLE = """
#include "core.h"

#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#define Py_BEGIN_ALLOW_THREADS {
#define Py_END_ALLOW_THREADS }
"""

ffibuilder = cffi.FFI()
ffibuilder.cdef(header_cdef())
ffibuilder.set_source(
    "raftfuzz.core._native",
    PREAMBLE,
    sources=[f"{CSRC}/core.c"],
    include_dirs=[CSRC],
    # Python's own CFLAGS carry -DNDEBUG; -UNDEBUG keeps the core's assertions
    # on, because an invariant broken inside the simulator must stop the run.
    extra_compile_args=["-O2", "-std=c11", "-UNDEBUG"],
    # dlopen/dlsym for rf_feedback_register (in libc itself from glibc 2.34 on).
    libraries=["dl"],
    # Passed on to the setuptools Extension: an optional extension that failed
    # to build is skipped when an editable install copies extensions back
    # into the source tree (setup.py turns the failure into a warning).
    optional=True,
)

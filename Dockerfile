# raftfuzz container image: a builder stage compiles the C core into a wheel,
# a slim runtime stage installs it and runs the entrypoint as a non-root user.
#
#   podman build --build-arg RAFTFUZZ_COMMIT="$(git rev-parse HEAD)" -t raftfuzz .
#   docker run --rm -e FUZZ_MODE=fuzz -e FUZZ_SECONDS=600 raftfuzz
#
# BASE_IMAGE is any Debian-like image with Python 3.11-3.13 and the venv
# module (python:3.11-slim-bookworm, or a local debootstrap base where no
# registry is reachable); the builder installs the compiler and the Python
# headers from apt when the base lacks them. Everything runs through
# /opt/venv, so it does not matter whether the base's Python is
# /usr/local/bin/python (the python images) or /usr/bin/python3 (Debian's).
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
# A build machine behind a TLS-intercepting proxy passes its CA bundle with
# `-v host.crt:/build-ca.crt:ro --build-arg PIP_CERT=/build-ca.crt`; unset,
# pip uses its own bundle.
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The C core needs a compiler and the Python headers: the python images have
# the headers but no compiler, a Debian base with python3 alone has neither.
# Whatever is missing comes from the base's own Debian release (python3-dev
# matches the base's python3). Ignored on purpose, DL3008,SC2086: pinned apt
# versions would break the build as soon as the archive moves on, and
# nothing of them reaches the runtime image; $missing is a list of package
# names, split into words on purpose.
# hadolint ignore=DL3008,SC2086
RUN missing=""; \
    command -v gcc >/dev/null || missing="gcc libc6-dev"; \
    python3 -c "import os, sys, sysconfig; \
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
        || missing="$missing python3-dev"; \
    if [ -n "$missing" ]; then \
        echo "installing for the C core: $missing" \
        && apt-get update \
        && apt-get install -y --no-install-recommends $missing \
        && rm -rf /var/lib/apt/lists/*; \
    fi
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY csrc/ csrc/
COPY docs/core.md docs/core.md
COPY src/ src/
# One wheel for raftfuzz (with the compiled core) and one for every
# dependency, the shipped PySyncObj target's included
# (RAFTFUZZ_TARGET=raftfuzz.targets.pysyncobj:Node), so the runtime stage
# installs offline. setup.py turns a failed
# compile into a warning (right for a laptop, wrong for an image), and pip
# hides the compiler's output unless verbose, so the build is logged in full
# and, when the wheel lacks the extension, the compiler's own error lines
# are shown before the build fails.
RUN /opt/venv/bin/pip wheel --verbose --use-pep517 --wheel-dir /wheels '.[pysyncobj]' > /tmp/wheel.log 2>&1 \
        || { tail -n 80 /tmp/wheel.log; exit 1; }; \
    /opt/venv/bin/python -c "import glob, sys, zipfile; \
names = zipfile.ZipFile(glob.glob('/wheels/raftfuzz-*.whl')[0]).namelist(); \
sys.exit(0 if any(n.startswith('raftfuzz/core/_native') and n.endswith('.so') for n in names) else 1)" \
        || { echo "the raftfuzz wheel has no C core: the compile failed; the compiler said:"; \
             grep -iE "error|raftfuzz: C core not built" /tmp/wheel.log > /tmp/errors.log; \
             tail -n 40 /tmp/errors.log; exit 1; }; \
    tail -n 3 /tmp/wheel.log

FROM ${BASE_IMAGE} AS runtime
ARG RAFTFUZZ_COMMIT=unknown
# A fixed numeric user, so Kubernetes' runAsNonRoot can check it without
# reading /etc/passwd.
RUN useradd --uid 10001 --user-group --home-dir /work --create-home --shell /usr/sbin/nologin raftfuzz
# Installed from the builder's wheels through a bind mount, so the wheels
# never become a layer of this image; --no-index means exactly the wheels
# the builder resolved are installed.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels 'raftfuzz[pysyncobj]' \
    && /opt/venv/bin/python -c "from raftfuzz.core import binding; import raftfuzz.targets.pysyncobj"
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONSAFEPATH=1 \
    RAFTFUZZ_COMMIT=${RAFTFUZZ_COMMIT} \
    RAFTFUZZ_CORE=c \
    RAFTFUZZ_CORPUS=/work/corpus \
    RAFTFUZZ_ARTIFACTS=/work/artifacts
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["/opt/venv/bin/python", "-m", "raftfuzz.container"]

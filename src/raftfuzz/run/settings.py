"""Every setting raftfuzz reads, from flags and the environment, in one place.

An entry point (``raftfuzz`` and its subcommands, ``raftfuzz.atheris_main``,
``raftfuzz.container``, the report-rebuilding child of
``raftfuzz.store.crashes``) builds one ``Settings`` with ``Settings.load``:
a flag wins over its environment variable, which wins over the default, and
every value is checked here, once, so a bad one is a single line naming the
flag or variable and the fix (``SettingsError``: exit code 2, or 5 for a
setting of the shared store) before any work starts. The object is then passed down; no other module reads the
environment (tests/test_settings.py checks the source for it).

Child processes get the settings through the environment: libFuzzer's
``-jobs``, ``-fork``, ``-merge`` and ``-minimize_crash`` re-run the command
line and inherit it, and so do the fuzzer the supervisor starts and the
replay that rebuilds a report. So an entry point writes its settings there
once (``Settings.export``, or ``Settings.child_environment`` for a child's
``env=``), and the child reads them back with ``Settings.load`` like any
other start. ``SETTINGS`` below is the one table of variables; README's
settings tables list the same names (tests/test_settings.py).
"""

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from raftfuzz.core.constants import (FEEDBACK_COARSE, FEEDBACK_CONFLICTS, FEEDBACK_EVENT_KIND, FEEDBACK_FIELDS,
                                     FEEDBACK_HISTORY, FEEDBACK_ONCE, FEEDBACK_PAIRS, FEEDBACK_STATES,
                                     FEEDBACK_TRANSITIONS)
from raftfuzz.run.instrumentation import coverage_parts
from raftfuzz.run.moved import current_target
from raftfuzz.run.outcome import Outcome

DEFAULT_TARGET = "raftfuzz.node.raft:RaftNode"
# Events per run unless the caller says otherwise: long enough for several
# elections, a few hundred client operations and the liveness check after
# the heal, short enough for tens of fuzz executions per second.
DEFAULT_MAX_STEPS = 5_000
# A run longer than this is a configuration mistake rather than a fuzz
# execution: it would take minutes and hold the whole trace in memory.
MAX_STEPS_LIMIT = 10_000_000
CORE_NAMES = ("c", "python")
# The simulator's trace levels; "none" turns the trace off.
TRACE_LEVELS = ("info", "debug", "trace")
LOG_LEVELS = ("none", *TRACE_LEVELS)
# What guides libFuzzer (src/raftfuzz/checks/feedback.py, docs/feedback.md).
FEEDBACK_MODES = ("code", "state", "code+state")
# "schedule": structure-aware mutations half of the time (raftfuzz.schedule.mutator);
# "schedule+crossover": the same, and libFuzzer's crossover replaced by one
# that combines two inputs at record boundaries; "bytes": libFuzzer's byte
# mutations only.
MUTATORS = ("schedule", "schedule+crossover", "bytes")
STATE_FEATURES = {"states": FEEDBACK_STATES, "transitions": FEEDBACK_TRANSITIONS,
                  "kind": FEEDBACK_EVENT_KIND, "once": FEEDBACK_ONCE,
                  "history": FEEDBACK_HISTORY, "coarse": FEEDBACK_COARSE,
                  "fields": FEEDBACK_FIELDS, "pairs": FEEDBACK_PAIRS,
                  "conflicts": FEEDBACK_CONFLICTS}
# The feature sets that emit features; the others change what they see.
EMITTING_FEATURES = ("states", "transitions", "fields", "pairs", "conflicts")
FUZZ_MODES = ("fuzz", "random", "reproduce", "prune")
# A week: a budget beyond it is a typo (seconds taken for milliseconds), and a
# pod that long outlives any sensible Job deadline anyway.
MAX_FUZZ_SECONDS = 7 * 24 * 3600
# Far above the Indexed Job's parallelism limits; a larger index is not one a
# Job assigns.
MAX_COMPLETION_INDEX = 100_000


class SettingsError(Exception):
    """A flag or environment variable has a value raftfuzz cannot use; the
    message names it and the fix."""

    outcome = Outcome.USAGE


# ------------------------------------------------------------------ parsers
# Each takes the text and the name it came under (a flag or a variable, for
# the message) and returns the value or raises SettingsError.

def _text(text: str, name: str) -> str:
    return text


def _target(text: str, name: str) -> str:
    return current_target(text)  # an old module path (raftfuzz.run.moved) means the same class


def _path(text: str, name: str) -> Path:
    return Path(text)


def _choice(noun: str, options: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(text: str, name: str) -> str:
        if text not in options:
            raise SettingsError(f"{name}={text!r} is not {noun}; use {', '.join(options)}")
        return text
    return parse


def _whole(low: int, high: int, example: int | None = None) -> Callable[[str, str], int]:
    def parse(text: str, name: str) -> int:
        try:
            number = int(text.strip())
        except ValueError:
            hint = f"; set it to e.g. {example}" if example is not None else ""
            raise SettingsError(f"{name}={text!r} is not a whole number{hint}") from None
        if not low <= number <= high:
            raise SettingsError(f"{name}={number} is outside {low}..{high}")
        return number
    return parse


def _seconds(low: float, high: float, *, low_included: bool) -> Callable[[str, str], float]:
    def parse(text: str, name: str) -> float:
        try:
            seconds = float(text)
        except ValueError:
            raise SettingsError(f"{name}={text!r} is not a number of seconds") from None
        if not (low <= seconds if low_included else low < seconds) or not seconds <= high:
            raise SettingsError(f"{name}={text!r} is outside {low:g}..{high:g} seconds")
        return seconds
    return parse


def _switch(text: str, name: str) -> bool:
    """``0`` turns it off; anything else leaves it on (as before: only the
    supervisor writes this, and only ``0``)."""
    return text.strip() != "0"


def _features(text: str, name: str) -> str:
    state_feature_mask(text, name)
    return text


def _coverage(text: str, name: str) -> str:
    try:
        coverage_parts(text)
    except ValueError as error:
        raise SettingsError(f"{name}={text} {error}") from None
    return text


def state_feature_mask(text: str, name: str = "RAFTFUZZ_STATE_FEATURES") -> int:
    """The core's FEEDBACK_* bitmask a feature list such as ``states+kind`` names."""
    features = 0
    for part in text.split("+"):
        if part not in STATE_FEATURES:
            raise SettingsError(f"{name}={text} names {part!r}; join some of {', '.join(STATE_FEATURES)} "
                                f"with '+'")
        features |= STATE_FEATURES[part]
    if not any(features & STATE_FEATURES[emitter] for emitter in EMITTING_FEATURES):
        raise SettingsError(f"{name}={text} needs one of {', '.join(EMITTING_FEATURES)}")
    return features


@dataclass(frozen=True)
class Variable:
    """One setting: the field of Settings, its environment variable, its
    flag (None: environment only) and how its text is checked."""

    field: str
    variable: str
    flag: str | None
    parse: Callable[[str, str], object]
    # Read when ``variable`` is unset (requests' own fallback for the CA bundle).
    fallback: str | None = None
    # A bad value of a storage setting is a storage misconfiguration (exit 5),
    # as the README documents for everything about the bucket.
    outcome: Outcome = Outcome.USAGE


SETTINGS = (
    Variable("target", "RAFTFUZZ_TARGET", "--target", _target),
    Variable("max_steps", "MAX_STEPS", "--max-steps", _whole(1, MAX_STEPS_LIMIT, DEFAULT_MAX_STEPS)),
    Variable("artifacts", "RAFTFUZZ_ARTIFACTS", "--artifacts", _path),
    Variable("core", "RAFTFUZZ_CORE", "--core", _choice("a core", CORE_NAMES)),
    Variable("feedback", "RAFTFUZZ_FEEDBACK", "--feedback", _choice("a feedback mode", FEEDBACK_MODES)),
    Variable("state_features", "RAFTFUZZ_STATE_FEATURES", None, _features),
    Variable("code_coverage", "RAFTFUZZ_CODE_COVERAGE", None, _coverage),
    Variable("mutator", "RAFTFUZZ_MUTATOR", "--mutator", _choice("a mutator", MUTATORS)),
    Variable("shrink_seconds", "RAFTFUZZ_SHRINK_SECONDS", "--shrink-seconds", _seconds(0, 3600, low_included=True)),
    Variable("log_level", "RAFTFUZZ_LOG", "--log-level", _choice("a log level", LOG_LEVELS)),
    Variable("corpus", "RAFTFUZZ_CORPUS", None, _path),
    Variable("commit", "RAFTFUZZ_COMMIT", None, _text),
    Variable("bucket", "BUCKET_NAME", None, _text),
    Variable("bucket_prefix", "RAFTFUZZ_BUCKET_PREFIX", None, _text),
    Variable("store_dir", "RAFTFUZZ_STORE_DIR", None, _path),
    Variable("credentials", "GOOGLE_APPLICATION_CREDENTIALS", None, _text),
    Variable("emulator", "STORAGE_EMULATOR_HOST", None, _text),
    Variable("ca_bundle", "REQUESTS_CA_BUNDLE", None, _text, fallback="CURL_CA_BUNDLE"),
    Variable("storage_retry_seconds", "RAFTFUZZ_STORAGE_RETRY_SECONDS", None,
             _seconds(0, 600, low_included=False), outcome=Outcome.STORAGE),
    Variable("sync", "RAFTFUZZ_SYNC", None, _switch),
    Variable("sync_interval", "RAFTFUZZ_SYNC_INTERVAL", None, _seconds(1, 24 * 3600, low_included=True),
             outcome=Outcome.STORAGE),
    Variable("worker", "RAFTFUZZ_WORKER", None, _text),
    Variable("fuzz_mode", "FUZZ_MODE", None, _choice("a mode", FUZZ_MODES)),
    Variable("fuzz_seconds", "FUZZ_SECONDS", None, _whole(1, MAX_FUZZ_SECONDS)),
    Variable("fuzz_file", "FUZZ_FILE", None, _text),
    Variable("job_index", "JOB_COMPLETION_INDEX", None, _whole(0, MAX_COMPLETION_INDEX)),
)
_BY_FIELD = {setting.field: setting for setting in SETTINGS}


def default_worker() -> str:
    """A worker's name when RAFTFUZZ_WORKER is unset: the host name (a
    Kubernetes pod's name) and the process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Settings:
    """The settings of one process. None means unset (the default applies
    where the setting is used); see SETTINGS for the variable of each."""

    target: str | None = None          # None: DEFAULT_TARGET
    # The fields given as flags (or overridden by the caller), not read from
    # the environment: --target and --max-steps win over what a crash report
    # names (raftfuzz.run.target.report_target, raftfuzz.run.replay).
    flags: frozenset[str] = frozenset()
    max_steps: int = DEFAULT_MAX_STEPS
    artifacts: Path = Path("artifacts")
    core: str | None = None            # None: C when built
    feedback: str = "state"            # measured best (docs/feedback.md)
    state_features: str = "states"     # measured best (docs/feedback.md)
    code_coverage: str = "blocks"      # what --feedback=code instruments: measured (docs/performance.md)
    mutator: str = "schedule+crossover"  # finds the most deep bugs (docs/bugs.md)
    shrink_seconds: float = 0.0        # 0: a new crash is saved as found
    log_level: str = "info"
    corpus: Path = Path("corpus")
    commit: str | None = None          # None: asked from git
    bucket: str | None = None
    bucket_prefix: str = ""
    store_dir: Path | None = None
    credentials: str | None = None     # None: the ambient identity
    emulator: str | None = None
    ca_bundle: str | None = None
    storage_retry_seconds: float = 10.0
    sync: bool = True
    sync_interval: float = 60.0
    worker: str | None = None          # None: default_worker()
    fuzz_mode: str = "fuzz"            # the container's mode
    fuzz_seconds: int = 3600           # the container's budget for fuzz and random
    fuzz_file: str | None = None
    job_index: int | None = None

    @classmethod
    def load(cls, flags: Mapping[str, object] | None = None,
             environ: Mapping[str, str] | None = None) -> "Settings":
        """The settings from the environment (os.environ unless given),
        with the flags (field name -> value; None means not given) on top."""
        environ = os.environ if environ is None else environ
        values = {}
        for setting in SETTINGS:
            text = environ.get(setting.variable) or (environ.get(setting.fallback) if setting.fallback else None)
            if text:  # empty means unset, as the Kubernetes templates use it
                values[setting.field] = _parse(setting, text, setting.variable)
        return cls(**values).override(**(flags or {}))

    def override(self, **flags) -> "Settings":
        """These settings with some fields given as flags would give them
        (checked the same way); None leaves a field as it is."""
        changes = {}
        for name, value in flags.items():
            if value is None:
                continue
            setting = _BY_FIELD.get(name)
            if setting is None:
                raise TypeError(f"no setting {name!r}")
            changes[name] = _parse(setting, str(value), setting.flag or setting.variable)
        return replace(self, flags=self.flags | frozenset(changes), **changes)

    def from_flag(self, name: str) -> bool:
        """True when the field ``name`` was given as a flag."""
        return name in self.flags

    @property
    def target_spec(self) -> str:
        return self.target or DEFAULT_TARGET

    @property
    def worker_name(self) -> str:
        return self.worker or default_worker()

    @property
    def shared(self) -> bool:
        """A bucket or a shared directory is configured."""
        return bool(self.bucket or self.store_dir)

    @property
    def feature_mask(self) -> int:
        return state_feature_mask(self.state_features)

    def to_environment(self) -> dict[str, str]:
        """The variables that make Settings.load in a child give these
        settings back (unset ones are left out)."""
        environment = {}
        for setting in SETTINGS:
            value = getattr(self, setting.field)
            if value is None:
                continue
            if isinstance(value, bool):
                value = "1" if value else "0"
            environment[setting.variable] = str(value)
        return environment

    def child_environment(self, **changes) -> dict[str, str]:
        """The environment for a child process: this process's, with these
        settings (and ``changes`` to them) written over it."""
        environment = dict(os.environ)
        _write(replace(self, **changes), environment)
        return environment

    def export(self) -> None:
        """Writes these settings into this process's environment, for the
        children libFuzzer starts by re-running the command line."""
        _write(self, os.environ)


def _parse(setting: Variable, text: str, name: str):
    try:
        return setting.parse(text, name)
    except SettingsError as error:
        error.outcome = setting.outcome
        raise


def _write(settings: Settings, environment) -> None:
    environment.update(settings.to_environment())
    for setting in SETTINGS:
        # An empty variable means unset here, but not to every library
        # (google-auth would try to open GOOGLE_APPLICATION_CREDENTIALS="").
        if getattr(settings, setting.field) is None and environment.get(setting.variable) == "":
            del environment[setting.variable]


# Every field of Settings but flags (how values were given, not a value) has a
# variable: checked at import, so a new field cannot be forgotten.
assert {field.name for field in fields(Settings)} - {"flags"} == set(_BY_FIELD), "SETTINGS is incomplete"

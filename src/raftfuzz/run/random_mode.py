"""Random mode: random schedules, no coverage feedback.

The baseline coverage guidance has to beat. Inputs come from a seeded
generator, so a campaign is repeatable, and every violation is saved as an
ordinary crash report (the first of each signature; later ones are counted).
``FUZZ_MODE=random`` in the container runs this.

With a shared store configured (``BUCKET_NAME`` or ``RAFTFUZZ_STORE_DIR``),
crash reports left in the spool are uploaded first and each new one right
after it is written; random mode has no corpus to share.
"""

import random
import sys
import time
from dataclasses import dataclass

from tqdm import tqdm

from raftfuzz.store.crashes import CrashUploader
from raftfuzz.run.harness import Harness, tune_collector
from raftfuzz.run.outcome import Outcome
from raftfuzz.store.paths import writable_directory
from raftfuzz.run.report import signature
from raftfuzz.schedule.codec import random_input
from raftfuzz.run.settings import Settings
from raftfuzz.findings.shrink import save_shrunk_crash
from raftfuzz.store.configured import configured_store
from raftfuzz.run.target import load_target


@dataclass(frozen=True)
class Budget:
    """How long a random campaign runs (0: no limit) and how it reports."""

    runs: int = 0
    seconds: float = 0
    seed: int = 0            # of the input generator: a campaign is repeatable
    stop_on_violation: bool = False
    quiet: bool = False      # no progress line


def run_random(settings: Settings, budget: Budget) -> int:
    harness = Harness.from_settings(load_target(settings.target_spec), settings)
    tune_collector()
    writable_directory(harness.artifacts, "the artifacts directory", "--artifacts (or RAFTFUZZ_ARTIFACTS)")
    uploader = _crash_uploader(settings)
    if uploader is not None:
        harness.on_crash = uploader.upload_quietly
    generator = random.Random(budget.seed)
    started = time.monotonic()
    signatures: dict[str, int] = {}
    first_exit_code = Outcome.OK
    runs = 0
    progress = tqdm(disable=budget.quiet, unit=" runs", file=sys.stderr, mininterval=1.0)
    try:
        while budget.runs <= 0 or runs < budget.runs:
            if budget.seconds > 0 and time.monotonic() - started >= budget.seconds:
                break
            data = random_input(generator)
            schedule, result = harness.execute(data)
            runs += 1
            progress.update(1)
            violation = result.violation
            if violation is None:
                continue
            key = signature(violation, harness.target)
            if key not in signatures and settings.shrink_seconds:
                save_shrunk_crash(harness, data, schedule, result, settings.shrink_seconds)
            elif key not in signatures:
                harness.save_crash(data, schedule, result)
            signatures[key] = signatures.get(key, 0) + 1
            first_exit_code = first_exit_code or violation.exit_code
            progress.set_postfix(violations=sum(signatures.values()), signatures=len(signatures))
            if budget.stop_on_violation:
                break
    finally:
        progress.close()
    elapsed = time.monotonic() - started
    print(f"random: {runs} runs in {elapsed:.1f}s ({runs / max(elapsed, 1e-9):.1f} runs/s), "
          f"{sum(signatures.values())} violations, {len(signatures)} signatures", file=sys.stderr)
    return first_exit_code


def _crash_uploader(settings: Settings) -> CrashUploader | None:
    """The uploader for the configured store, after uploading the spool; None
    without a store. A store that fails here raises StorageError (exit 5)."""
    store = configured_store(settings) if settings.sync else None
    if store is None:
        return None
    store.check()
    uploader = CrashUploader(store, settings.artifacts, settings)
    result = uploader.upload_spool()
    print(f"random: crash reports to {store.describe()}: {result.summary()}", file=sys.stderr)
    return uploader

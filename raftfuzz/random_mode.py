"""Random mode: random schedules, no coverage feedback.

The baseline coverage guidance has to beat. Inputs come from a seeded
generator, so a campaign is repeatable, and every violation is saved as an
ordinary crash report (the first of each signature; later ones are counted).
``FUZZ_MODE=random`` in the container runs this.

With a shared store configured (``BUCKET_NAME`` or ``RAFTFUZZ_STORE_DIR``),
crash reports left in the spool are uploaded first and each new one right
after it is written; random mode has no corpus to share.
"""

import os
import random
import sys
import time

from tqdm import tqdm

from raftfuzz.harness import Harness
from raftfuzz.report import signature
from raftfuzz.schedule import random_input
from raftfuzz.target import load_target, target_spec
from raftfuzz.violations import EXIT_OK


def run_random(arguments) -> int:
    spec = target_spec(arguments.target)
    harness = Harness.from_settings(load_target(spec), target=spec, max_steps=arguments.max_steps,
                                    artifacts=arguments.artifacts)
    from raftfuzz.paths import writable_directory

    writable_directory(harness.artifacts, "the artifacts directory", "--artifacts (or RAFTFUZZ_ARTIFACTS)")
    from raftfuzz.shrink import save_shrunk_crash, shrink_seconds_setting

    given = getattr(arguments, "shrink_seconds", None)  # --shrink-seconds, else RAFTFUZZ_SHRINK_SECONDS
    shrink_seconds = shrink_seconds_setting(None if given is None else str(given))
    uploader = _crash_uploader(harness.artifacts, harness.target)
    if uploader is not None:
        harness.on_crash = uploader.upload_quietly
    generator = random.Random(arguments.seed)
    started = time.monotonic()
    signatures: dict[str, int] = {}
    first_exit_code = EXIT_OK
    runs = 0
    progress = tqdm(disable=arguments.quiet, unit=" runs", file=sys.stderr, mininterval=1.0)
    try:
        while arguments.runs <= 0 or runs < arguments.runs:
            if arguments.seconds > 0 and time.monotonic() - started >= arguments.seconds:
                break
            data = random_input(generator)
            schedule, result = harness.execute(data)
            runs += 1
            progress.update(1)
            violation = result.violation
            if violation is None:
                continue
            key = signature(violation, harness.target)
            if key not in signatures and shrink_seconds:
                save_shrunk_crash(harness, data, schedule, result, shrink_seconds)
            elif key not in signatures:
                harness.save_crash(data, schedule, result)
            signatures[key] = signatures.get(key, 0) + 1
            first_exit_code = first_exit_code or violation.exit_code
            progress.set_postfix(violations=sum(signatures.values()), signatures=len(signatures))
            if arguments.stop_on_violation:
                break
    finally:
        progress.close()
    elapsed = time.monotonic() - started
    print(f"random: {runs} runs in {elapsed:.1f}s ({runs / max(elapsed, 1e-9):.1f} runs/s), "
          f"{sum(signatures.values())} violations, {len(signatures)} signatures", file=sys.stderr)
    return first_exit_code


def _crash_uploader(artifacts, target):
    """The uploader for the configured store, after uploading the spool; None
    without a store. A store that fails here raises StorageError (exit 5)."""
    from raftfuzz.corpus_sync import SYNC_ENV
    from raftfuzz.storage import configured_store

    if os.environ.get(SYNC_ENV) == "0":
        return None
    store = configured_store()
    if store is None:
        return None
    from raftfuzz.crash_upload import CrashUploader

    store.check()
    uploader = CrashUploader(store, artifacts, target=target)
    result = uploader.upload_spool()
    print(f"random: crash reports to {store.describe()}: {result.summary()}", file=sys.stderr)
    return uploader

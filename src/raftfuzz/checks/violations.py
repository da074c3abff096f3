"""Outcome classes; their exit codes are raftfuzz.run.outcome.Outcome.

A run ends in one of three ways besides success, and each has its own type
and exit code so that scripts (and Kubernetes) can tell them apart: a safety
violation (the Raft node broke one of Raft's guarantees), a liveness violation
(the cluster failed to make progress once every fault had healed), or a
harness error — a bug in raftfuzz or a target that breaks the driver's
contract, never a finding about Raft. An exception raised inside the node
itself is a safety finding (``node_panic``), not a harness error.
"""

import traceback
from pathlib import Path

from raftfuzz.run.outcome import Outcome


class Violation(Exception):
    """A broken property, with what is needed to understand it.

    ``facts`` holds the values that show the violation (terms, indexes,
    entries); ``signature_facts`` names the few of them that identify the bug
    rather than this particular run, for deduplication.
    """

    kind = "violation"
    label = "violation"  # how a line of output names it: "safety violation", "harness error"
    exit_code = Outcome.HARNESS_ERROR

    def __init__(
        self,
        property_name: str,
        message: str,
        *,
        nodes: tuple[int, ...] = (),
        facts: dict | None = None,
        signature_facts: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"{property_name}: {message}")
        self.property_name = property_name
        self.message = message
        self.nodes = tuple(nodes)
        self.facts = dict(facts or {})
        self.signature_facts = signature_facts
        # Filled in by the simulator, which knows where the run is.
        self.step: int | None = None
        self.time_us: int | None = None

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "property": self.property_name,
            "message": self.message,
            "step": self.step,
            "time_us": self.time_us,
            "nodes": list(self.nodes),
            "facts": self.facts,
        }


class SafetyViolation(Violation):
    kind = "safety"
    label = "safety violation"
    exit_code = Outcome.SAFETY


class LivenessViolation(Violation):
    kind = "liveness"
    label = "liveness violation"
    exit_code = Outcome.LIVENESS


class ContractViolation(Violation):
    """The target broke the driver's contract (raftfuzz.run.contract names the
    rule): a harness error, not a Raft finding, but saved and replayed like
    one, so the input that shows it is never lost."""

    kind = "harness"
    label = "harness error"
    exit_code = Outcome.HARNESS_ERROR


NODE_PANIC = "NodePanic"


def node_panic(node_id: int, error: Exception) -> SafetyViolation:
    """The node under test raised. Like a panic in etcd-io/raft ("tocommit is
    out of range") or a failed assertion in LogCabin, an exception inside the
    node means it reached a state it believes impossible: a finding, reported
    and replayed like any other. Bugs are told apart by the exception type and
    the line that raised it."""
    frame = traceback.extract_tb(error.__traceback__)[-1]
    where = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
    return SafetyViolation(
        NODE_PANIC,
        f"n{node_id} raised {type(error).__name__}: {error} ({where})",
        nodes=(node_id,),
        facts={"exception": type(error).__name__, "detail": str(error), "where": where},
        signature_facts=("exception", "where"),
    )

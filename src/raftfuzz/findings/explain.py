"""What a crash report's run did: a summary, a space-time diagram, a ShiViz log.

``raftfuzz explain REPORT.json`` replays the report once with a recording
simulator (raftfuzz.findings.run_record; same path, same trace hash) and prints a few
lines: the violation, which faults fired (with the nodes a role named),
which node led which term, crashes, and which committed entries some node
lost or holds differently at the end.

``-o run.html`` writes one self-contained page (inline CSS and JavaScript,
no network fetch; raftfuzz.findings.explain_page): a lane per node coloured by role
with its term, messages as arrows (lost ones end in a cross, duplicated
ones are dashed), faults as bands (crashed, paused, partitioned or held
links), client operations as intervals from invocation to completion, the
violation as a red line, and for a linearizability violation the shrunk
non-linearizable sub-history, highlighted. Zoom, a node filter and
"collapse heartbeats" keep a 5,000-step run readable.

``--format shiviz -o run.log`` writes the run for ShiViz: the parser
regular expression on the first line, an empty delimiter line, then two
lines per event (the event, then ``host {"host": clock, ...}``) with vector
clocks: every send, receive and state change is an event of its node.
"""

import json
import sys
from pathlib import Path

from raftfuzz.checks import linearizability
from raftfuzz.checks.safety import SafetyChecker
from raftfuzz.findings.run_record import RecordingSimulation, RunRecord
from raftfuzz.run.harness import Harness
from raftfuzz.run.outcome import Outcome
from raftfuzz.run.report import signature
from raftfuzz.run.settings import Settings

SHIVIZ_REGEX = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})"
# The page inlines every message; past this many it keeps the first ones
# and says so, so that a pathological run still gives a page a browser opens.
MAX_PAGE_MESSAGES = 60_000


class Explained:
    """One recorded replay of a report."""

    def __init__(self, report: dict, data: bytes, harness: Harness) -> None:
        self.report = report
        self.data = data
        self.target = harness.target
        self.schedule, simulation, self.result = harness.run_input(data, simulation_class=RecordingSimulation)
        self.simulation = simulation
        self.record: RunRecord = simulation.record if simulation is not None else RunRecord(
            self.schedule.node_count, self.schedule.node_count,
            node_states=[[] for _ in range(self.schedule.node_count)])
        recorded = report.get("run", {}).get("trace_hash")
        self.reproduced = recorded is None or recorded == self.result.trace_hash
        self.sub_history = ()
        if self.result.violation is not None and self.result.violation.property_name == linearizability.PROPERTY_NAME:
            self.sub_history = linearizability.check_history(self.result.history).operations

    # ---------------------------------------------------------------- text

    def leaders(self) -> list[tuple[int, int, int]]:
        """(term, node, since_us) for each term that had a leader, by term."""
        first: dict[int, tuple[int, int]] = {}
        for node_id, states in enumerate(self.record.node_states):
            for state in states:
                if state.role == "leader" and (state.term not in first or state.since_us < first[state.term][1]):
                    first[state.term] = (node_id, state.since_us)
        return [(term, node, since) for term, (node, since) in sorted(first.items())]

    def downtimes(self) -> list[tuple[int, str, int, int | None]]:
        """(node, "down"/"paused", from_us, to_us or None) intervals."""
        intervals = []
        for node_id, states in enumerate(self.record.node_states):
            for position, state in enumerate(states):
                if state.status in ("down", "paused"):
                    end = next((later.since_us for later in states[position + 1:] if later.status != state.status),
                               None)
                    if position == 0 or states[position - 1].status != state.status:
                        intervals.append((node_id, state.status, state.since_us, end))
        return intervals

    def entry_differences(self) -> list[str]:
        """Committed entries that a live node holds, at the end, with another
        term: what it lost (overwritten) or would apply differently. A node
        that is merely behind, or compacted them away, is not listed."""
        simulation = self.simulation
        if simulation is None:
            return []
        safety = next((checker for checker in simulation.checkers if isinstance(checker, SafetyChecker)), None)
        committed = safety.committed_terms if safety is not None else [0]
        lines = []
        for node in simulation.nodes:
            if node is None:
                continue
            differ = []
            try:
                start, last = node.log_start(), node.last_index()
                for index in range(max(1, start), min(last, len(committed) - 1) + 1):
                    held = node.term_at(index)
                    if committed[index] is not None and held is not None and held != committed[index]:
                        differ.append(f"{index} (committed in term {committed[index]}, term {held} here)")
            except Exception:  # a target whose log cannot be read here
                continue
            if differ:
                shown = ", ".join(differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
                lines.append(f"n{node.id} holds committed entries with another term: {shown}")
        return lines

    def summary(self) -> list[str]:
        result, violation = self.result, self.result.violation
        lines = []
        if violation is None:
            lines.append(f"no violation in {result.steps} steps ({result.ended_by})")
        else:
            lines.append(f"{violation.label} {violation.property_name} at step {violation.step}, "
                         f"t={_ms(violation.time_us or 0)}: {violation.message}")
        if not self.reproduced:
            lines.append(f"NOT REPRODUCED: the report recorded trace {self.report['run'].get('trace_hash')}, "
                         f"this run {result.trace_hash}")
        s = self.schedule
        lines.append(f"cluster: {s.node_count} nodes, election timeout {s.election_timeout_ticks} ticks, "
                     f"{s.client_count} client(s) x {s.pipeline_depth}, loss {s.loss_per_256}/256, "
                     f"duplication {s.duplicate_per_256}/256, latency {s.latency_min_us // 1000}-"
                     f"{s.latency_max_us // 1000} ms")
        faults = [f"{_ms(fault.at_us)} {fault.text.split(' ', 1)[-1]}" for fault in self.record.faults]
        if faults:
            shown = "; ".join(faults[:8]) + (f"; and {len(faults) - 8} more" if len(faults) > 8 else "")
            lines.append(f"faults ({len(faults)}): {shown}")
        else:
            lines.append("faults: none")
        crashes = [f"n{node} {kind} {_ms(start)}-{'end' if end is None else _ms(end)}"
                   for node, kind, start, end in self.downtimes()]
        if crashes:
            lines.append("down: " + "; ".join(crashes[:8]) + (" ..." if len(crashes) > 8 else ""))
        leaders = [f"term {term} n{node} ({_ms(since)})" for term, node, since in self.leaders()]
        lines.append("leaders: " + (", ".join(leaders) if leaders else "none"))
        lines.extend(self.entry_differences())
        operations = result.history
        completed = sum(1 for operation in operations if operation.completed_us is not None)
        lines.append(f"client operations: {len(operations)} ({completed} completed), "
                     f"linearizability {result.linearizability}")
        for operation in self.sub_history:
            lines.append(f"  {linearizability.format_operation(operation)}")
        return lines

    # ---------------------------------------------------------------- page

    def page_data(self) -> dict:
        record, result = self.record, self.result
        violation = result.violation
        kinds: list[str] = []
        kind_index: dict[str, int] = {}
        messages = []
        for message in record.messages[:MAX_PAGE_MESSAGES]:
            if message.kind not in kind_index:
                kind_index[message.kind] = len(kinds)
                kinds.append(message.kind)
            messages.append([message.sent_us, message.src, message.dst, kind_index[message.kind],
                             int(message.heartbeat), message.delivered_us, message.label])
        in_sub_history = {id(operation) for operation in self.sub_history}
        operations = [[operation.client, operation.seq, operation.op, operation.key, operation.value,
                       operation.result, operation.invoked_us, operation.completed_us,
                       int(id(operation) in in_sub_history)]
                      for operation in result.history]
        end_us = max([result.time_us, *(m.sent_us for m in record.messages[-1:])])
        return {
            "title": f"{self.report.get('signature') or 'run'}",
            "target": self.target,
            "signature": signature(violation, self.target) if violation is not None else None,
            "violation": None if violation is None else {
                "property": violation.property_name, "kind": violation.kind, "label": violation.label,
                "message": violation.message, "step": violation.step, "time_us": violation.time_us,
                "nodes": list(violation.nodes)},
            "reproduced": self.reproduced,
            "trace_hash": result.trace_hash,
            "steps": result.steps,
            "end_us": end_us,
            "node_count": record.node_count,
            "states": [[[state.since_us, state.status, state.role, state.term, state.commit_index, state.step]
                        for state in states] for states in record.node_states],
            "links": [[link.since_us, [list(pair) for pair in link.cut], [list(pair) for pair in link.held]]
                      for link in record.links],
            "faults": [[fault.at_us, fault.step, fault.text] for fault in record.faults],
            "events": [[event.at_us, event.step, event.text] for event in record.other_events],
            "kinds": kinds,
            "messages": messages,
            "messages_total": len(record.messages),
            "operations": operations,
            "sub_history": None if not self.sub_history else {
                "key": self.sub_history[0].key,
                "lines": [linearizability.format_operation(operation) for operation in self.sub_history]},
            "summary": self.summary(),
            "schedule": self.schedule.describe(),
        }

    def html(self) -> str:
        from raftfuzz.findings.explain_page import render

        return render(self.page_data())

    # ---------------------------------------------------------------- ShiViz

    def shiviz(self) -> str:
        """The run as a ShiViz log with vector clocks, in simulated time order."""
        record = self.record
        names = [f"n{i}" for i in range(record.node_count)] + [
            f"c{i}" for i in range(record.node_count, record.endpoint_count)]
        # (time, order, host, text, message sent / received)
        events = []
        order = 0
        for message in record.messages:
            events.append((message.sent_us, order, message.src, f"send m{message.message_id} {message.label}", ("send", message)))
            order += 1
            for delivered in message.delivered_us:
                events.append((delivered, order, message.dst, f"receive m{message.message_id} {message.label}", ("receive", message)))
                order += 1
        for node_id, states in enumerate(record.node_states):
            for state in states[1:]:
                text = (f"{state.status}" if state.status != "up" else
                        f"{state.role} of term {state.term}, commit {state.commit_index}")
                events.append((state.since_us, order, node_id, text, None))
                order += 1
        for fault in record.faults:
            events.append((fault.at_us, order, 0, f"fault {fault.text} (scheduled)", None))
            order += 1
        events.sort(key=lambda item: (item[0], item[1]))
        clocks = [dict() for _ in names]
        sent_clock: dict[int, dict] = {}
        lines = [SHIVIZ_REGEX, ""]
        for time_us, _, host, text, link in events:
            clock = clocks[host]
            if link is not None and link[0] == "receive":
                for name, value in sent_clock.get(link[1].message_id, {}).items():
                    clock[name] = max(clock.get(name, 0), value)
            clock[names[host]] = clock.get(names[host], 0) + 1
            if link is not None and link[0] == "send":
                sent_clock[link[1].message_id] = dict(clock)
            lines.append(f"{_ms(time_us)} {text}")
            lines.append(f"{names[host]} {json.dumps(clock, sort_keys=True)}")
        return "\n".join(lines) + "\n"


def _ms(time_us: int) -> str:
    # Integer arithmetic: the same text on every machine.
    return f"{time_us // 1000}.{time_us % 1000:03d}ms"


def explain_report(path: Path, settings: Settings | None = None) -> Explained:
    from raftfuzz.run.replay import report_run

    data, report, harness = report_run(path, settings or Settings())
    return Explained(report, data, harness)


def run_explain(arguments, settings: Settings) -> int:
    """``raftfuzz explain REPORT.json [-o OUT] [--format html|shiviz]``."""
    explained = explain_report(Path(arguments.report), settings)
    if arguments.output is None:
        print("\n".join(explained.summary()))
    else:
        out = Path(arguments.output)
        text = explained.html() if arguments.format == "html" else explained.shiviz()
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out} ({arguments.format}, {len(explained.record.messages)} messages, "
              f"{explained.result.steps} steps)", file=sys.stderr)
    return Outcome.OK if explained.reproduced else Outcome.HARNESS_ERROR


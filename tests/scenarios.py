"""Helpers for scenario tests: build a schedule from a few readable faults and
run it to the end on the reference node (or a variant)."""

from raftfuzz.node.raft import RaftNode
from raftfuzz.schedule.codec import FaultEvent, Schedule
from raftfuzz.sim.simulation import Simulation


def schedule(*events, **knobs) -> Schedule:
    defaults = dict(seed=7, election_timeout_ticks=6, heartbeat_ticks=2, client_count=2,
                    write_per_256=200, client_think_ticks=2, key_count=2, quiet_ticks=100)
    defaults.update(knobs)
    faults = tuple(sorted((FaultEvent(*spec) for spec in events), key=lambda event: event.at_ticks))
    return Schedule(events=faults, **defaults)


def run(schedule_: Schedule, node_class=RaftNode, max_steps: int = 200_000):
    simulation = Simulation(schedule_, node_class, max_steps=max_steps)
    return simulation, simulation.run()

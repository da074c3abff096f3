"""raftfuzz explain: the recorded replay is the report's run, the summary
says what happened, the ShiViz log has correct vector clocks, and the HTML
page draws in a real browser (headless Chromium from Debian, driven by
Playwright with the system browser: no browser is downloaded).

Like tests/test_container_image.py, the browser test skips with the reason
when Chromium or Playwright is missing; .ci/run installs Chromium and the
test extra installs Playwright.
"""

import json
import random
import re
import shutil

import pytest

from raftfuzz.node.mutants import CATALOGUE
from raftfuzz.node.raft import RaftNode
from raftfuzz.findings.run_record import RecordingSimulation
from raftfuzz.schedule.codec import decode, random_input
from raftfuzz.sim.simulation import Simulation
from raftfuzz.run.outcome import Outcome
from tests.conftest import REPO, run_cli

FIGURE8 = REPO / "docs" / "explain" / "figure8.crash.json"
STALE_READ = REPO / "docs" / "explain" / "stale-read.crash.json"
CANARY = REPO / "tests" / "data" / "canary-leader-completeness.json"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.parametrize("seed", range(6))
def test_recording_does_not_change_the_run(seed):
    """Same trace hash, steps and outcome with and without the recorder."""
    data = random_input(random.Random(seed))
    node_class = RaftNode if seed % 2 else CATALOGUE["VoteWithoutLogCheck"]
    plain = Simulation(decode(data), node_class).run()
    recording = RecordingSimulation(decode(data), node_class)
    recorded = recording.run()
    assert (recorded.trace_hash, recorded.steps, recorded.ended_by) == (plain.trace_hash, plain.steps, plain.ended_by)
    assert len(recording.record.messages) == len(recording.messages)
    assert sum(len(message.delivered_us) for message in recording.record.messages) <= recorded.steps


def test_the_summary_says_what_happened():
    completed = run_cli("raftfuzz", "explain", str(FIGURE8))
    assert completed.returncode == Outcome.OK, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert lines[0].startswith("safety violation LeaderCompleteness at step ")
    assert any(line.startswith("faults (2): ") and "partition" in line for line in lines)
    assert any(line.startswith("leaders: term ") for line in lines)
    assert any("holds committed entries with another term" in line for line in lines)
    assert len(lines) <= 12


@pytest.mark.parametrize("core", ["c", "python"])
def test_explain_replays_on_the_core_asked_for(core):
    from raftfuzz.core.twin import PythonCore
    from raftfuzz.findings.explain import explain_report
    from raftfuzz.run.settings import Settings

    explained = explain_report(FIGURE8, Settings().override(core=core))
    assert isinstance(explained.simulation.core, PythonCore) == (core == "python")
    assert explained.reproduced  # both cores give the report's trace hash


def test_the_summary_of_a_stale_read_shows_the_sub_history():
    completed = run_cli("raftfuzz", "explain", str(STALE_READ))
    assert completed.returncode == Outcome.OK
    assert "Linearizability" in completed.stdout
    assert re.search(r"^  c\d+ #\d+ get k\d -> ", completed.stdout, re.MULTILINE)


def test_shiviz_log_has_the_format_and_consistent_vector_clocks(tmp_path):
    out = tmp_path / "run.log"
    completed = run_cli("raftfuzz", "explain", str(FIGURE8), "--format", "shiviz", "-o", str(out))
    assert completed.returncode == Outcome.OK, completed.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})"
    assert lines[1] == ""
    body = lines[2:]
    assert len(body) % 2 == 0 and body
    own: dict[str, int] = {}
    sent: dict[str, dict] = {}
    receives = 0
    pattern = re.compile(r"^(\S*) (\{.*\})$")
    for event, clock_line in zip(body[::2], body[1::2]):
        host, clock_text = pattern.match(clock_line).groups()
        clock = json.loads(clock_text)
        # ShiViz: a host's own entry starts at 1 and grows by one per event.
        assert clock[host] == own.get(host, 0) + 1
        own[host] = clock[host]
        words = event.split(" ")
        if words[1] == "send":
            sent[words[2]] = clock  # the message id, m<N>
        elif words[1] == "receive":
            # A receive happens after its send: it knows everything the sender knew.
            assert all(clock.get(name, 0) >= value for name, value in sent[words[2]].items() if name != host)
            receives += 1
    assert receives > 100


def test_the_page_is_one_self_contained_file(tmp_path):
    out = tmp_path / "run.html"
    completed = run_cli("raftfuzz", "explain", str(FIGURE8), "-o", str(out))
    assert completed.returncode == Outcome.OK, completed.stderr
    page = out.read_text()
    # No fetch of anything: no external script, style, image or font.
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"""(href|src)=["']?(https?:|//)""", page)
    assert "@import" not in page and "url(http" not in page
    assert [m for m in re.findall(r"https?://[^\s\"'<]+", page) if m != "http://www.w3.org/2000/svg"] == []
    data = json.loads(re.search(r'<script type="application/json" id="run-data">(.*?)</script>', page, re.S).group(1))
    assert data["node_count"] == 3 and data["violation"]["property"] == "LeaderCompleteness"
    assert data["reproduced"] is True


def test_an_unwritable_output_is_one_line(tmp_path):
    completed = run_cli("raftfuzz", "explain", str(FIGURE8), "-o", str(tmp_path / "missing" / "run.html"))
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr and len(completed.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium not installed (.ci/run installs it: apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (the test extra pins it)")
    with sync_api.sync_playwright() as playwright:
        # The system Chromium, never a downloaded one; no sandbox when root.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _open(browser, html_path):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    requests = []
    page.on("request", lambda request: requests.append(request.url) if not request.url.startswith(("file:", "data:")) else None)
    page.goto(html_path.as_uri())
    page.wait_for_selector("#violation-marker")
    return page, problems, requests


@pytest.mark.parametrize("report", [FIGURE8, STALE_READ, CANARY], ids=["figure8", "stale-read", "canary"])
def test_the_page_draws_in_headless_chromium(browser, report, tmp_path):
    out = tmp_path / "run.html"
    completed = run_cli("raftfuzz", "explain", str(report), "-o", str(out))
    assert completed.returncode == Outcome.OK, completed.stderr
    recorded = json.loads(report.read_text())
    page, problems, requests = _open(browser, out)
    node_count = recorded["schedule"]["node_count"]
    for node in range(node_count):
        assert page.locator(f'g.lane[data-lane="n{node}"]').count() == 1
    assert page.locator("g.lane").count() == node_count
    # Every fault that fired is on the fault row and in the list.
    assert page.locator(".fault-marker").count() == page.locator("#fault-list li").count() >= 1
    assert page.locator(".fault-band").count() >= 1
    marker = page.locator("#violation-marker")
    assert marker.count() == 1 and recorded["violation"]["property"] in marker.text_content()
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
    assert (tmp_path / "run.png").stat().st_size > 10_000
    assert problems == [] and requests == []


def test_the_controls_filter_collapse_and_zoom(browser, tmp_path):
    out = tmp_path / "run.html"
    assert run_cli("raftfuzz", "explain", str(FIGURE8), "-o", str(out)).returncode == Outcome.OK
    page, problems, _ = _open(browser, out)
    heartbeats = page.locator("line.msg.hb").count()
    assert heartbeats > 0
    page.check("#collapse-heartbeats")
    assert page.locator("line.msg.hb").count() == 0
    page.uncheck('#node-filter input[data-node="0"]')
    assert page.locator('g.lane[data-lane="n0"]').count() == 0
    assert page.locator("g.lane").count() == 2
    width = float(page.locator("#chart").get_attribute("width"))
    page.click("#zoom-in")
    assert float(page.locator("#chart").get_attribute("width")) > 1.5 * width
    page.click("#zoom-fit")
    assert problems == []


def test_a_linearizability_page_highlights_the_sub_history(browser, tmp_path):
    out = tmp_path / "run.html"
    assert run_cli("raftfuzz", "explain", str(STALE_READ), "-o", str(out)).returncode == Outcome.OK
    page, problems, _ = _open(browser, out)
    recorded = json.loads(STALE_READ.read_text())
    lines = recorded["violation"]["facts"]["history"]
    assert page.locator("rect.op.lin").count() == len(lines)
    assert all(line.split("  ")[0] in page.locator("#sub-history").inner_text() for line in lines)
    assert problems == []


@pytest.fixture(scope="module")
def long_run_report(tmp_path_factory):
    """A finding at the end of a full 5,000-step run (a stale read, found by
    the linearizability check after the last step), unshrunk."""
    from raftfuzz.run.harness import Harness

    harness = Harness.from_settings(CATALOGUE["StaleReadWithoutReadIndex"],
                                    target="raftfuzz.node.mutants:StaleReadWithoutReadIndex",
                                    artifacts=str(tmp_path_factory.mktemp("long")))
    generator = random.Random(0)
    for _ in range(200):
        data = random_input(generator)
        schedule, result = harness.execute(data)
        if result.violation is not None and result.steps == harness.max_steps:
            return harness.save_crash(data, schedule, result)
    raise AssertionError("no 5,000-step stale read in 200 random inputs")


def test_a_5000_step_run_draws_and_collapses(browser, long_run_report, tmp_path):
    out = tmp_path / "run.html"
    assert run_cli("raftfuzz", "explain", str(long_run_report), "-o", str(out)).returncode == Outcome.OK
    page, problems, requests = _open(browser, out)
    recorded = json.loads(long_run_report.read_text())
    assert recorded["run"]["steps"] == 5000
    assert page.locator("g.lane").count() == recorded["schedule"]["node_count"]
    assert page.locator("rect.op.lin").count() >= 2
    # Busy runs start with heartbeats collapsed; showing them draws more.
    collapsed = page.locator("line.msg").count()
    if page.is_checked("#collapse-heartbeats"):
        page.uncheck("#collapse-heartbeats")
        assert page.locator("line.msg").count() > collapsed
    page.click("#zoom-in")
    page.click("#zoom-in")
    page.screenshot(path=str(tmp_path / "long.png"))
    assert problems == [] and requests == []

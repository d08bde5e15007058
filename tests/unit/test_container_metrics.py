"""hna-cloudos-container-metrics (role monitoring_agent): the samples it makes of the engine's answers, the text format
it writes, and two runs for real: against this machine's Docker engine, and against a socket where none answers."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scriptmodule import load

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles" / "monitoring_agent" / "files" / "hna-cloudos-container-metrics"
cm = load("container_metrics", SCRIPT.relative_to(REPO))

LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+]+$')

SUMMARY = {"Id": "abc123" * 10, "Names": ["/web-1"], "Image": "cloudos/nginx:1.22", "State": "running",
           "Labels": {"io.hna.cloudos.namespace": "testlog", "io.hna.cloudos.service": "nginx"}}
INSPECTED = {"Name": "/web-1", "RestartCount": 3, "HostConfig": {"RestartPolicy": {"Name": "unless-stopped"}},
             "State": {"OOMKilled": False, "StartedAt": "2026-12-03T00:10:20.123456789Z",
                       "Health": {"Status": "unhealthy"}}}
STATS = {"cpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}},
         "memory_stats": {"usage": 50_000_000, "limit": 1_000_000_000, "stats": {"inactive_file": 10_000_000}}}


def values(samples, metric):
    return [(dict(labels), value) for name, labels, value in samples if name == metric]


def test_a_running_container_with_a_health_check_gives_every_series():
    samples = cm.container_samples(SUMMARY, INSPECTED, STATS)
    labels = {"name": "web-1", "namespace": "testlog", "service": "nginx", "image": "cloudos/nginx:1.22"}
    assert values(samples, "hna_container_running") == [(labels, True)]
    assert values(samples, "hna_container_restarts_total") == [(labels, 3)]
    assert values(samples, "hna_container_cpu_seconds_total") == [(labels, 2.5)]
    assert values(samples, "hna_container_memory_usage_bytes") == [(labels, 40_000_000)]
    assert values(samples, "hna_container_memory_limit_bytes") == [(labels, 1_000_000_000)]
    health = {labels["status"]: value for labels, value in values(samples, "hna_container_health_status")}
    assert health == {"starting": False, "healthy": False, "unhealthy": True}
    assert values(samples, "hna_container_start_time_seconds")[0][1] == pytest.approx(1796256620.123, abs=0.001)
    assert values(samples, "hna_container_restart_policy") == [(dict(labels, policy="unless-stopped"), 1)]


def test_a_stopped_container_has_no_health_even_when_the_engine_kept_one():
    # The engine keeps the last health of a stopped container (often unhealthy): it is not a health of now.
    inspected = dict(INSPECTED, State=dict(INSPECTED["State"], Health={"Status": "unhealthy"}))
    samples = cm.container_samples(dict(SUMMARY, State="exited"), inspected, None)
    assert values(samples, "hna_container_health_status") == []
    assert values(samples, "hna_container_running")[0][1] is False


def test_a_stopped_container_without_health_check_has_no_usage_and_no_health():
    summary = dict(SUMMARY, State="exited", Labels={})
    inspected = {"Name": "/old", "RestartCount": 0, "State": {"OOMKilled": True, "StartedAt": "0001-01-01T00:00:00Z"}}
    samples = cm.container_samples(summary, inspected, None)
    assert {name for name, _, _ in samples} == {"hna_container_running", "hna_container_restarts_total",
                                                "hna_container_oom_killed", "hna_container_restart_policy"}
    # No restart policy in the answer: the engine's own default, no.
    assert values(samples, "hna_container_restart_policy")[0][0]["policy"] == "no"
    assert values(samples, "hna_container_oom_killed")[0] == (
        {"name": "old", "namespace": "", "service": "", "image": "cloudos/nginx:1.22"}, True)


@pytest.mark.parametrize("text, expected", [
    ("2026-12-03T00:10:20Z", 1796256620.0),
    ("2026-12-03T00:10:20.5Z", 1796256620.5),
    ("2026-12-03T02:10:20.25+02:00", 1796256620.25),
    ("2026-12-02T23:10:20-01:00", 1796256620.0),
    ("0001-01-01T00:00:00Z", None),
    ("", None),
    ("yesterday", None),
])
def test_engine_times_are_read_in_utc(text, expected):
    assert cm.parse_time(text) == (pytest.approx(expected) if expected is not None else None)


def test_the_memory_in_use_leaves_the_page_cache_out_on_cgroup_v1_and_v2():
    assert cm.memory_usage({"memory_stats": {"usage": 100, "stats": {"inactive_file": 30}}}) == 70
    assert cm.memory_usage({"memory_stats": {"usage": 100, "stats": {"total_inactive_file": 40}}}) == 60
    assert cm.memory_usage({"memory_stats": {"usage": 10, "stats": {"inactive_file": 30}}}) == 0
    assert cm.memory_usage({"memory_stats": {}}) is None


def test_the_text_format_has_help_and_type_once_and_escapes_label_values():
    summary = dict(SUMMARY, Names=['/we"ird\\name'], Labels={})
    text = cm.render(cm.container_samples(summary, dict(INSPECTED, Name=None), STATS) + [("hna_container_up", [], True)])
    lines = text.splitlines()
    assert lines[:3] == ["# HELP hna_container_up Whether the Docker engine answered the last collection (1) or not (0).",
                         "# TYPE hna_container_up gauge", "hna_container_up 1"]
    assert sum(1 for line in lines if line.startswith("# TYPE hna_container_health_status ")) == 1
    assert 'name="we\\"ird\\\\name"' in text
    for line in lines:
        assert line.startswith("# ") or LINE.match(line), line


def run_script(tmp_path, *args):
    out = tmp_path / "hna_containers.prom"
    res = subprocess.run([sys.executable, str(SCRIPT), "--output", str(out), *args], capture_output=True, text=True,
                         timeout=120)
    return res, out


@pytest.fixture(scope="module")
def busybox_container(tmp_path_factory):
    """A container of this test's own on this machine's engine (an image imported from busybox-static: no registry)."""
    root = tmp_path_factory.mktemp("image")
    (root / "bin").mkdir()
    (root / "bin" / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    (root / "bin" / "busybox").chmod(0o755)
    image, name = "hnatest/metrics-busybox:1", "hnatest-metrics-%d" % os.getpid()
    tar = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True, check=True).stdout
    subprocess.run(["docker", "import", "-", image], input=tar, capture_output=True, check=True)
    subprocess.run(["docker", "run", "-d", "--name", name, "--health-cmd", "/bin/busybox true", "--health-interval", "1s",
                    image, "/bin/busybox", "sleep", "600"], capture_output=True, check=True)
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(["docker", "image", "rm", image], capture_output=True, check=False)


def test_a_run_against_this_machines_engine_lists_its_containers(tmp_path, busybox_container):
    res, out = run_script(tmp_path)
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert "hna_container_up 1" in text.splitlines()
    mine = r'\{name="%s",namespace="",service="",image="hnatest/metrics-busybox:1"' % re.escape(busybox_container)
    assert re.search(r"^hna_container_running%s\} 1$" % mine, text, re.M), text
    assert re.search(r"^hna_container_cpu_seconds_total%s\} [0-9.e-]+$" % mine, text, re.M), text
    assert re.search(r"^hna_container_memory_usage_bytes%s\} [1-9][0-9]*$" % mine, text, re.M), text
    assert re.search(r'^hna_container_health_status%s,status="(starting|healthy)"\} 1$' % mine, text, re.M), text
    assert oct(os.stat(out).st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["hna_containers.prom"], "a temporary file was left"


def test_an_engine_that_does_not_answer_is_written_as_down_with_exit_code_1(tmp_path):
    res, out = run_script(tmp_path, "--socket", str(tmp_path / "no-engine.sock"), "--timeout", "2")
    assert res.returncode == 1
    assert "did not answer" in res.stderr and "no-engine.sock" in res.stderr
    lines = out.read_text().splitlines()
    assert "hna_container_up 0" in lines
    assert not [line for line in lines if line.startswith("hna_container_running")]


@pytest.mark.parametrize("args", [["--repeat", "0"], ["--interval", "-1"]])
def test_bad_usage_exits_2(tmp_path, args):
    res, _ = run_script(tmp_path, *args)
    assert res.returncode == 2 and "--repeat" in res.stderr

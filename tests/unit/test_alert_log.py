"""hna-cloudos-alert-log (role monitoring_server), Alertmanager's webhook receiver: its records() on notifications and on
what is not one, and the script run for real on 127.0.0.1, fed Alertmanager's webhook format (version 4) over HTTP."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from scriptmodule import load

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles" / "monitoring_server" / "files" / "hna-cloudos-alert-log"
alert_log = load("alert_log", SCRIPT.relative_to(REPO))

FIELDS = {"received", "status", "alertname", "labels", "annotations", "startsAt", "endsAt", "groupKey"}


def alert(status, name, instance, ends="0001-01-01T00:00:00Z"):
    return {
        "status": status,
        "labels": {"alertname": name, "instance": instance, "severity": "critical"},
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": "2026-12-03T10:00:00Z",
        "endsAt": ends,
        "generatorURL": "http://monitor:9090/graph?g0.expr=up",
        "fingerprint": "0123456789abcdef",
    }


# An Alertmanager webhook notification (version 4): one alert still firing, one resolved.
NOTIFICATION = {
    "version": "4",
    "groupKey": '{}:{alertname="NodeDown"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "webhooks",
    "groupLabels": {"alertname": "NodeDown"},
    "commonLabels": {"alertname": "NodeDown", "severity": "critical"},
    "commonAnnotations": {},
    "externalURL": "http://monitor:9093",
    "alerts": [alert("firing", "NodeDown", "node-1"),
               alert("resolved", "NodeDown", "node-2", ends="2026-12-03T10:05:00Z")],
}


def test_records_gives_one_line_per_alert_with_the_documented_fields():
    lines = alert_log.records(NOTIFICATION, "2026-12-03T10:05:30Z")
    assert [set(line) for line in lines] == [FIELDS, FIELDS]
    first, second = lines
    assert first == {"received": "2026-12-03T10:05:30Z", "status": "firing", "alertname": "NodeDown",
                     "labels": {"alertname": "NodeDown", "instance": "node-1", "severity": "critical"},
                     "annotations": {"summary": "NodeDown on node-1"}, "startsAt": "2026-12-03T10:00:00Z",
                     "endsAt": "0001-01-01T00:00:00Z", "groupKey": '{}:{alertname="NodeDown"}'}
    assert second["status"] == "resolved"
    assert second["labels"]["instance"] == "node-2"
    assert second["endsAt"] == "2026-12-03T10:05:00Z"


def test_records_takes_the_notifications_status_and_empty_values_for_what_an_alert_lacks():
    (line,) = alert_log.records({"status": "resolved", "alerts": [{}]}, "now")
    assert line == {"received": "now", "status": "resolved", "alertname": "", "labels": {}, "annotations": {},
                    "startsAt": None, "endsAt": None, "groupKey": None}


def test_records_of_a_notification_without_alerts_is_empty():
    assert alert_log.records({"alerts": []}, "now") == []


@pytest.mark.parametrize("body", [[], "alerts", None, {}, {"alerts": None}, {"alerts": {"a": 1}}, {"alerts": ["x"]},
                                  {"alerts": [alert("firing", "NodeDown", "node-1"), 3]}])
def test_records_refuses_what_is_not_a_notification(body):
    with pytest.raises(ValueError):
        alert_log.records(body, "now")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(url, data=None, method=None):
    """(status, body) of one HTTP request; an error status is an answer, not an exception."""
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture
def receiver(tmp_path):
    """The script running on a free port of 127.0.0.1, once GET /health answers: (base URL, its file). Stopped
    after the test, whatever its result."""
    port = free_port()
    out = tmp_path / "alerts.jsonl"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--listen", f"127.0.0.1:{port}", "--file", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail("hna-cloudos-alert-log exited with %s: %s" % (proc.returncode, proc.communicate()[1]))
            try:
                if request(base + "/health") == (200, "ok\n"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("hna-cloudos-alert-log did not answer GET /health within 15 s")
            time.sleep(0.05)
        yield base, out
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def lines_of(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_notification_is_appended_one_json_line_per_alert(receiver):
    base, out = receiver
    assert out.read_text() == ""  # created at start
    status, body = request(base + "/alerts", json.dumps(NOTIFICATION).encode())
    assert (status, body) == (200, "recorded 2\n")
    lines = lines_of(out)
    assert [set(line) for line in lines] == [FIELDS, FIELDS]
    assert [(line["status"], line["alertname"], line["labels"]["instance"]) for line in lines] == [
        ("firing", "NodeDown", "node-1"), ("resolved", "NodeDown", "node-2")]
    assert lines[0]["annotations"] == {"summary": "NodeDown on node-1"}
    assert lines[1]["endsAt"] == "2026-12-03T10:05:00Z"
    assert {line["groupKey"] for line in lines} == {NOTIFICATION["groupKey"]}
    received = time.strptime(lines[0]["received"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(time.mktime(received) - time.mktime(time.gmtime())) < 60
    # A second notification is appended after the first.
    assert request(base + "/alerts", json.dumps(NOTIFICATION).encode())[0] == 200
    assert len(lines_of(out)) == 4


@pytest.mark.parametrize("body", [b"{not json", json.dumps({"status": "firing"}).encode(), b"[]"])
def test_what_is_not_a_notification_is_refused_with_400_and_nothing_is_written(receiver, body):
    base, out = receiver
    status, _ = request(base + "/alerts", body)
    assert status == 400
    assert out.read_text() == ""


def test_an_empty_post_is_refused_with_400(receiver):
    base, out = receiver
    assert request(base + "/alerts", b"", method="POST")[0] == 400
    assert out.read_text() == ""


@pytest.mark.parametrize("method, path", [("GET", "/"), ("GET", "/alerts"), ("GET", "/health/x"), ("POST", "/other")])
def test_other_paths_are_not_found(receiver, method, path):
    base, out = receiver
    data = json.dumps(NOTIFICATION).encode() if method == "POST" else None
    assert request(base + path, data, method=method)[0] == 404
    assert out.read_text() == ""

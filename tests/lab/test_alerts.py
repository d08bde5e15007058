"""Alerts of the lab's monitoring server (playbooks/monitoring.yml, role monitoring_server), fired by real faults:
node_exporter of a node stopped, a container that should run stopped, one whose health check fails, one that keeps
crashing, the replica's SQL thread stopped, its mysqld_exporter stopped, a cache stopped, the scheduled backup failing
and then stale, fleet's containers of one cloud stopped (errors through that cloud's load balancer, and their rate),
the other cloud's load balancer stopped, the global load balancer stopped, the registry stopped. Each alert must reach
the webhook receiver (the alert log on the monitoring server) within its `for` time plus a scrape interval, two
evaluation intervals, Alertmanager's group_wait, the sample interval of the container metrics for the container alerts
and 10 s for a loaded machine; and each must be resolved, and the resolution received, once its fault is undone.

These tests stop parts of the lab on purpose: tools/test-lab.sh runs this file alone, after the other lab tests. Every
request goes to the lab's own addresses (Prometheus' API on the monitoring server, the lab's database servers)."""

import calendar
import json
import re
import time

import pymysql
import pytest

from conftest import HOSTVARS, REPO, group_hosts, node_host, prometheus, wait_for

SERVER = sorted(group_hosts("monitoring_servers"))[0]
ALERT_LOG = "/var/log/hna-cloudos/alerts.jsonl"
PRIMARY, REPLICA = "bj2-node1", "hz-node1"
ROOT_PASSWORD = (REPO / ".lab" / "secrets" / "mysql-root-password").read_text().strip()
BACKUP = "mysql"
TEXTFILE = f"/var/lib/prometheus/node-exporter/{BACKUP}.prom"
CRON = f"/etc/cron.d/hna-cloudos-backup-{BACKUP}"
LOGIN = f"/etc/hna-cloudos/backup/{BACKUP}/login-password"


def seconds(text):
    """A Prometheus duration such as 15s or 2m, in seconds."""
    value, unit = re.fullmatch(r"(\d+)(ms|s|m|h)", str(text)).groups()
    return int(value) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


SETTINGS = HOSTVARS[SERVER]
SCRAPE, EVALUATION = seconds(SETTINGS["monitoring_server_scrape_interval"]), seconds(SETTINGS["monitoring_server_evaluation_interval"])
GROUP_WAIT = seconds(SETTINGS["monitoring_server_group_wait"])
# Time for a notification on top of the rule's `for`: one scrape to see the fault, one evaluation to start the alert
# and one to fire it, Alertmanager's group_wait, and 10 s for a lab that the other stages load.
MARGIN = SCRAPE + 2 * EVALUATION + GROUP_WAIT + 10


def rule_for(alertname):
    """The `for` of an alert as Prometheus runs it (its rules API), in seconds."""
    for group in prometheus("/api/v1/rules")["groups"]:
        for rule in group["rules"]:
            if rule.get("name") == alertname:
                return rule.get("duration", 0)
    raise AssertionError(f"no rule {alertname} in Prometheus")


def firing():
    return [a for a in prometheus("/api/v1/alerts")["alerts"] if a["state"] == "firing"]


def received():
    """The notifications the alert log recorded, one dict per alert."""
    text = node_host(SERVER).check_output(f"cat {ALERT_LOG}")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def sh(host, command):
    return node_host(host).check_output(command)


def sql(host, statement):
    with pymysql.connect(host=HOSTVARS[host]["lab_interconnect_address"], port=3306, user="root",
                         password=ROOT_PASSWORD, connect_timeout=10, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(statement)


def backup_command():
    """The scheduled backup's command, as cron on the primary runs it."""
    cron = sh(PRIMARY, f"cat {CRON}")
    return re.search(r"^\S+ \S+ \S+ \S+ \S+ root (.*?) >/dev/null", cron, re.M).group(1)


def fleet_containers(host):
    return sh(host, "docker ps -a --filter label=org.hna-cloudos.release.app=fleet --format '{{.Names}}'").split()


# Each fault: (alert name, the labels that identify its alert, how to make it, how to undo it).
CLOUD_A, CLOUD_B = HOSTVARS["bj2-node1"]["cloud_name"], HOSTVARS["hz-node1"]["cloud_name"]
GLB = sorted(group_hosts("glb"))[0]
HZ_FLEET_NODES = sorted(h for h in group_hosts("docker_hosts") if HOSTVARS[h]["cloud_name"] == CLOUD_B)


def stale_backup():
    """The status of the last run, as the runner would write it 27 hours later without a run in between: the time
    of the last success moved back. The schedule itself cannot be stopped for a day in a test."""
    old = time.time() - 27 * 3600
    sh(PRIMARY, f"sed -i -E 's/^(hna_cloudos_backup_last_success_timestamp_seconds\\{{[^}}]*\\}}) .*/\\1 {old:.3f}/' {TEXTFILE}")


def run_on_hz2(name, options, command):
    """Start a throw-away container of the lab's Redis image on hz-node2."""
    node = node_host("hz-node2")
    images = node.check_output("docker image ls --format '{{.Repository}}:{{.Tag}}'").split()
    image = [i for i in images if re.search(r"(^|/)cloudos/redis:[^<]+$", i)][0]
    node.run(f"docker rm -f {name}")
    node.check_output(f"docker run -d --name {name} {options} --entrypoint sh {image} -c '{command}'")


FAULTS = [
    ("NodeDown", {"instance": "bj2-node2"},
     lambda: sh("bj2-node2", "service prometheus-node-exporter stop"),
     lambda: sh("bj2-node2", "service prometheus-node-exporter start")),
    ("ContainerNotRunning", {"instance": "hz-node2", "name": "hnatest-alert-worker"},
     lambda: sh("hz-node2", "docker stop -t 1 hnatest-alert-worker"),
     lambda: sh("hz-node2", "docker start hnatest-alert-worker")),
    ("ContainerUnhealthy", {"instance": "hz-node2", "name": "hnatest-alert-sick"},
     lambda: run_on_hz2("hnatest-alert-sick", "--health-cmd 'exit 1' --health-interval 2s --health-retries 1",
                        "sleep 86400"),
     lambda: sh("hz-node2", "docker rm -f hnatest-alert-sick")),
    # Exits a second after each start; the engine restarts it after 0.1, 0.2, 0.4 ... s.
    ("ContainerRestarting", {"instance": "hz-node2", "name": "hnatest-alert-crasher"},
     lambda: run_on_hz2("hnatest-alert-crasher", "--restart always --no-healthcheck", "sleep 1; exit 3"),
     lambda: sh("hz-node2", "docker rm -f hnatest-alert-crasher")),
    ("ReplicationStopped", {"instance": REPLICA},
     lambda: sql(REPLICA, "STOP SLAVE SQL_THREAD"),
     lambda: sql(REPLICA, "START SLAVE SQL_THREAD")),
    # The primary's exporter: the replica's tells that its SQL thread stopped (above).
    ("ExporterDown", {"job": "mysqld", "instance": PRIMARY},
     lambda: sh(PRIMARY, "service prometheus-mysqld-exporter stop"),
     lambda: sh(PRIMARY, "service prometheus-mysqld-exporter start")),
    ("RedisDown", {"redis": "store-cache"},
     lambda: sh("bj2-node2", "docker stop -t 1 store-cache"),
     lambda: sh("bj2-node2", "docker start store-cache")),
    ("BackupFailed", {"instance": PRIMARY, "backup": BACKUP},
     lambda: sh(PRIMARY, f"cp -p {LOGIN} {LOGIN}.saved && echo wrong > {LOGIN} && ({backup_command()} || true)"),
     lambda: sh(PRIMARY, f"mv {LOGIN}.saved {LOGIN} && {backup_command()}")),
    ("AppUnhealthy", {"probe": f"fleet-{CLOUD_B}"},
     lambda: [sh(h, "docker stop -t 1 " + " ".join(fleet_containers(h))) for h in HZ_FLEET_NODES],
     lambda: [sh(h, "docker start " + " ".join(fleet_containers(h))) for h in HZ_FLEET_NODES]),
    ("LoadBalancerDown", {"probe": f"lb-{CLOUD_A}", "cloud": CLOUD_A},
     lambda: sh("bj2-node1", "docker stop -t 1 lb"),
     lambda: sh("bj2-node1", "docker start lb")),
    ("GlobalLoadBalancerDown", {"probe": "glb"},
     lambda: sh(GLB, "docker stop -t 1 glb"),
     lambda: sh(GLB, "docker start glb")),
    ("RegistryDown", {"probe": "registry"},
     lambda: sh("bj2-node1", "docker stop -t 1 registry"),
     lambda: sh("bj2-node1", "docker start registry")),
]
# Alerts that another fault raises: (alert, its labels, the fault that raises it).
FOLLOWING = [
    ("ErrorRateHigh", {"probe": f"fleet-{CLOUD_B}"}, "AppUnhealthy"),
    ("BackupStale", {"instance": PRIMARY, "backup": BACKUP}, "BackupStale"),
]
# The container metrics are sampled every 60/samples_per_minute seconds, on top of the scrape interval.
SAMPLE = 60 / HOSTVARS["hz-node2"].get("monitoring_agent_container_samples_per_minute", 4)


def bound(name):
    """The most seconds from a fault to its alert at the receiver: the container alerts wait for a sample of the
    container metrics too, and ContainerRestarting for two more (the increase of the count between samples)."""
    extra = SAMPLE if name.startswith("Container") else 0
    extra += 2 * SAMPLE if name == "ContainerRestarting" else 0
    return rule_for(name) + MARGIN + extra + 1


def matches(alert, name, labels):
    return alert["labels"].get("alertname") == name and all(alert["labels"].get(k) == v for k, v in labels.items())


def arrivals(faults, status, before):
    """{alert name: Unix time the receiver first recorded it with ``status``} for the faults it recorded so far."""
    seen = {}
    for record in received()[before:]:
        for name, labels in faults:
            if record["status"] == status and matches(record, name, labels) and name not in seen:
                seen[name] = calendar.timegm(time.strptime(record["received"], "%Y-%m-%dT%H:%M:%SZ"))
    return seen


def all_of(faults, status, before):
    seen = arrivals(faults, status, before)
    return seen if len(seen) == len(faults) else None


def test_rules_are_loaded_and_no_alert_fires_on_the_healthy_lab():
    # Evaluated at least once (a rule just loaded is of unknown health), and each without error.
    rules = wait_for(lambda: (lambda rules: rules if all(r["health"] != "unknown" for r in rules) else None)(
        [r for g in prometheus("/api/v1/rules")["groups"] for r in g["rules"]]), 60, "every rule evaluated", 2)
    assert len(rules) >= 18 and all(r["health"] == "ok" for r in rules), rules
    # The lab after every other test: replication running, every load balancer, container and backup as the main
    # job left them. A firing alert here is a fault some test left behind.
    wait_for(lambda: not firing(), 90, "no firing alert", 3)


@pytest.fixture()
def worker():
    """A container on hz-node2 that should run (restart policy unless-stopped), seen running by the metrics."""
    run_on_hz2("hnatest-alert-worker", "--restart unless-stopped --no-healthcheck", "sleep 86400")
    wait_for(lambda: prometheus("/api/v1/query", query='hna_container_running{name="hnatest-alert-worker"} == 1')["result"],
             90, "the worker running in Prometheus", 2)
    yield
    node_host("hz-node2").run("docker rm -f hnatest-alert-worker hnatest-alert-sick hnatest-alert-crasher")


@pytest.fixture()
def fresh_backup():
    """A successful scheduled backup run on the primary, so that its status is in node_exporter's textfile directory."""
    sh(PRIMARY, backup_command())
    wait_for(lambda: prometheus("/api/v1/query", query=f'hna_cloudos_backup_last_run_success{{backup="{BACKUP}"}} == 1')["result"],
             60, "the backup's status in Prometheus", 2)
    yield
    sh(PRIMARY, f"test ! -e {LOGIN}.saved || mv {LOGIN}.saved {LOGIN}")


def test_each_fault_fires_its_alert_and_undoing_it_resolves_it(worker, fresh_backup):
    faults = [(name, labels) for name, labels, _, _ in FAULTS] + [(name, labels) for name, labels, _ in FOLLOWING]
    before = len(received())
    started = {}
    try:
        for name, _, make, _ in FAULTS:
            make()
            started[name] = time.time()
        # The stale backup: the last run failed above; its last success now also looks 27 hours old.
        stale_backup()
        started["BackupStale"] = time.time()
        deadline = max(bound(name) for name, _ in faults) + 30
        fired = wait_for(lambda: all_of(faults, "firing", before), deadline, "every alert firing at the receiver", 2)
        causes = {name: cause for name, _, cause in FOLLOWING}
        for name, _ in faults:
            latency = fired[name] - started[causes.get(name, name)]
            print(f"{name}: received {latency:.0f} s after the fault (for: {rule_for(name):.0f} s, bound {bound(name):.0f} s)")
            # The receiver's clock has a resolution of a second.
            assert latency <= bound(name), (name, latency)
    finally:
        for name, _, _, undo in FAULTS:
            undo()
    # The successful run that undid BackupFailed wrote a fresh last success: BackupStale resolves with it.
    resolved = wait_for(lambda: all_of(faults, "resolved", before), 180, "every alert resolved at the receiver", 2)
    assert set(resolved) == {name for name, _ in faults}
    wait_for(lambda: not firing(), 120, "no firing alert once every fault is undone", 3)

"""Monitoring agents on the lab's nodes (playbooks/monitoring.yml, role monitoring_agent), as `make lab` sets them up:
node_exporter answers on every node's interconnect address with the node's metrics and the per-container metrics of
its engine (hna_container_*, written by hna-cloudos-container-metrics for the textfile collector); a stopped container
and an unhealthy one show within a sample interval; a rerun changes nothing, check mode predicts nothing, drifted
settings are put back, bad input fails naming the variable.

The only requests go to the nodes' own node_exporter (GET /metrics, a few a second at most)."""

import datetime
import json
import re
import time
import urllib.request

import pytest

from conftest import HOSTVARS, NODES, REPO, group_hosts, node_host, prometheus, run_playbook, wait_for

NODE = "bj2-node2"
PORT = 9100
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def metrics(host):
    """The samples node_exporter of ``host`` serves: {(name, labels text): value}."""
    url = f"http://{HOSTVARS[host]['lab_interconnect_address']}:{PORT}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match:
            samples[(match.group(1), match.group(2) or "")] = float(match.group(3))
    return samples


def container_value(samples, metric, name, **labels):
    """The value of ``metric`` for the container ``name`` (and these other labels), or None."""
    for (found, text), value in samples.items():
        if found == metric and f'name="{name}"' in text and all(f'{k}="{v}"' in text for k, v in labels.items()):
            return value
    return None


def changed_tasks(stdout):
    """The tasks of a run that changed something, with the hosts and the recap."""
    blocks = re.split(r"\n(?=TASK \[|RUNNING HANDLER \[)", stdout)
    return "\n".join([b.strip() for b in blocks if re.search(r"^changed: ", b, re.M)] + recap(stdout))


def recap(stdout):
    return [line for line in stdout.splitlines() if re.search(r"\bok=\d+\s+changed=", line)]


@pytest.mark.parametrize("host", NODES)
def test_every_node_exports_its_metrics_and_each_of_its_containers(host):
    samples = metrics(host)
    assert samples.get(("node_textfile_scrape_error", "")) == 0, "node_exporter could not read a textfile"
    assert ("node_load1", "") in samples
    assert samples[("hna_container_up", "")] == 1
    assert time.time() - samples[("hna_container_last_run_timestamp_seconds", "")] < 90, "the metrics are stale"
    # The containers that run now and already ran at the last collection (started before it): the database tests
    # beside these ones start and stop containers of their own on the nodes meanwhile.
    collected = samples[("hna_container_last_run_timestamp_seconds", "")]
    started = node_host(host).check_output(
        "docker ps -q | xargs -r docker inspect --format '{{.Name}} {{.State.StartedAt}}'").splitlines()
    running = [line.split()[0].lstrip("/") for line in started
               if datetime.datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", line.split()[1]).replace("Z", "+00:00"))
               .timestamp() < collected - 5]
    assert running, f"no container ran on {host} at the last collection: {started}"
    for name in running:
        assert container_value(samples, "hna_container_running", name) == 1, name
        assert container_value(samples, "hna_container_cpu_seconds_total", name) is not None, name
        assert container_value(samples, "hna_container_memory_usage_bytes", name) > 0, name


def test_a_stopped_and_an_unhealthy_container_show_within_a_sample_interval():
    node = node_host(NODE)
    # The lab's Redis image, as the node pulled it from the lab's registry (it has sleep).
    images = node.check_output("docker image ls --format '{{.Repository}}:{{.Tag}}'").split()
    image = [i for i in images if re.search(r"(^|/)cloudos/redis:[^<]+$", i)][0]
    sick, stopped = "hnatest-mon-sick", "hnatest-mon-stopped"
    try:
        node.check_output(f"docker run -d --name {sick} --health-cmd 'exit 1' --health-interval 1s --health-retries 1 "
                          f"--entrypoint sleep {image} 3600")
        node.check_output(f"docker run -d --name {stopped} --entrypoint sleep {image} 3600")
        wait_for(lambda: container_value(metrics(NODE), "hna_container_running", stopped) == 1, 45,
                 f"{stopped} running in the metrics", 2)
        node.check_output(f"docker stop -t 1 {stopped}")
        started = time.monotonic()
        wait_for(lambda: container_value(metrics(NODE), "hna_container_running", stopped) == 0, 45,
                 f"{stopped} stopped in the metrics", 1)
        wait_for(lambda: container_value(metrics(NODE), "hna_container_health_status", sick, status="unhealthy") == 1,
                 45, f"{sick} unhealthy in the metrics", 1)
        samples = metrics(NODE)
        assert container_value(samples, "hna_container_health_status", sick, status="healthy") == 0
        assert container_value(samples, "hna_container_running", sick) == 1
        # Four samples a minute: a change shows within 15 s plus the time of one collection.
        assert time.monotonic() - started < 30
    finally:
        node.run(f"docker rm -f {sick} {stopped}")


def test_a_rerun_changes_nothing_and_check_mode_predicts_nothing():
    for args in ((), ("--check", "--diff")):
        res = run_playbook("playbooks/monitoring.yml", *args)
        assert res.returncode == 0, res.stdout[-3000:]
        assert len(recap(res.stdout)) == len(NODES)
        assert all(re.search(r"\bchanged=0\b", line) for line in recap(res.stdout)), changed_tasks(res.stdout)


def test_drifted_settings_are_put_back_and_node_exporter_restarted():
    node = node_host(NODE)
    pid = node.check_output("cat /var/run/prometheus-node-exporter.pid 2>/dev/null || pgrep -o -x prometheus-node")
    try:
        node.check_output("sed -i 's/--collector.textfile.directory=[^ \"]*/--collector.textfile.directory=\\/tmp/' "
                          "/etc/default/prometheus-node-exporter")
        res = run_playbook("playbooks/monitoring.yml", "--check", "--diff", "-l", NODE)
        assert res.returncode == 0 and re.search(r"\bchanged=[12]\b", res.stdout), res.stdout[-3000:]
        assert "collector.textfile.directory=/tmp" in node.file("/etc/default/prometheus-node-exporter").content_string
        res = run_playbook("playbooks/monitoring.yml", "-l", NODE)
        assert res.returncode == 0 and re.search(r"\bchanged=[12]\b", res.stdout), res.stdout[-3000:]
        assert "collector.textfile.directory=/var/lib/prometheus/node-exporter" in \
            node.file("/etc/default/prometheus-node-exporter").content_string
        new_pid = node.check_output("cat /var/run/prometheus-node-exporter.pid 2>/dev/null || pgrep -o -x prometheus-node")
        assert new_pid != pid, "node_exporter was not restarted"
        wait_for(lambda: metrics(NODE).get(("hna_container_up", "")) == 1, 30, "node_exporter with its textfile", 1)
        res = run_playbook("playbooks/monitoring.yml", "-l", NODE)
        assert res.returncode == 0 and re.search(r"\bchanged=0\b", res.stdout), res.stdout[-3000:]
    finally:
        # A failure above must not leave the node drifted for the tests after this one.
        run_playbook("playbooks/monitoring.yml", "-l", NODE)


@pytest.mark.parametrize("override, name", [
    ('{"monitoring_agent_extra_args": ["--web.config.file=/x y"]}', "monitoring_agent_extra_args"),
    ('{"monitoring_agent_port": 70000}', "monitoring_agent_port"),
    ('{"monitoring_agent_container_samples_per_minute": 5}', "monitoring_agent_container_samples_per_minute"),
])
def test_bad_input_fails_naming_the_variable_and_changes_nothing(override, name):
    before = node_host(NODE).check_output("sha256sum /etc/default/prometheus-node-exporter")
    res = run_playbook("playbooks/monitoring.yml", "-l", NODE, "-e", override)
    assert res.returncode != 0
    assert name in res.stdout, res.stdout[-3000:]
    assert node_host(NODE).check_output("sha256sum /etc/default/prometheus-node-exporter") == before


# --- The monitoring server (role monitoring_server) -----------------------------------------------------------------
SERVER = sorted(group_hosts("monitoring_servers"))[0]
SECRETS = REPO / ".lab" / "secrets"


def test_every_node_database_cache_load_balancer_and_the_registry_is_a_healthy_target():
    expected = {("node", host) for host in NODES}
    expected |= {("mysqld", host) for host in group_hosts("db_servers")}
    expected |= {("redis", host) for host in NODES for _ in HOSTVARS[host].get("monitoring_agent_redis_exporters", [])}
    expected |= {("probe", f"lb-{HOSTVARS[host]['cloud_name']}") for host in group_hosts("lb")}
    expected |= {("probe", f"fleet-{HOSTVARS[host]['cloud_name']}") for host in group_hosts("lb")}
    expected |= {("probe", "glb"), ("probe", "fleet-glb"), ("probe", "registry"), ("prometheus", SERVER),
                 ("alertmanager", SERVER), ("blackbox", SERVER)}
    assert len([h for h in NODES if HOSTVARS[h].get("monitoring_agent_redis_exporters")]) == 2

    def targets():
        active = prometheus("/api/v1/targets")["activeTargets"]
        return {(t["labels"]["job"], t["labels"]["instance"]): t for t in active}
    found = wait_for(lambda: (lambda t: t if expected <= set(t) and all(t[k]["health"] == "up" for k in expected)
                              else None)(targets()), 60, "every target up", 3)
    assert set(found) == expected, set(found) ^ expected
    # Up, and answering for what it watches: each server, each cache, each check.
    for metric, count in (("mysql_up", len(group_hosts("db_servers"))), ("redis_up", 2),
                          ("probe_success", len([k for k in expected if k[0] == "probe"]))):
        values = prometheus(f"/api/v1/query?query={metric}")["result"]
        assert len(values) == count and all(v["value"][1] == "1" for v in values), (metric, values)
    replicating = prometheus("/api/v1/query?query=mysql_slave_status_slave_sql_running")["result"]
    assert [v["metric"]["instance"] for v in replicating] == ["hz-node1"], replicating


def test_no_password_in_the_configuration_prometheus_shows_or_in_a_process_list():
    passwords = [(SECRETS / name).read_text().strip() for name in
                 ("mysql-exporter-password", "store-cache-redis", "mysql-root-password")]
    shown = prometheus("/api/v1/status/config")["yaml"] + json.dumps(prometheus("/api/v1/status/flags"))
    assert "mysqld" in shown and "redis" in shown
    for password in passwords:
        assert password not in shown
    for host in sorted(group_hosts("db_servers")) + ["bj2-node2"]:
        node = node_host(host)
        processes = node.check_output("ps -eo args")
        assert not [p for p in passwords if p in processes], host
    cnf = node_host("bj2-node1").file("/etc/prometheus/mysqld-exporter.cnf")
    assert (cnf.mode, cnf.user) == (0o600, "prometheus")
    login = node_host("bj2-node2").file("/etc/hna-cloudos/monitoring/redis-store-cache.json")
    assert (login.mode, login.uid) == (0o400, 65534)
    inspected = node_host("bj2-node2").check_output("docker inspect redis-exporter-store-cache")
    assert not [p for p in passwords if p in inspected]


def test_a_broken_rule_file_is_refused_before_prometheus_reloads():
    node = node_host(SERVER)
    before = node.check_output("sha256sum /etc/prometheus/rules.d/hna-cloudos.rules.yml")
    res = run_playbook("playbooks/monitoring.yml", "-l", SERVER, "-e",
                       '{"monitoring_server_restart_window": "15 minutes"}')
    # promtool's own words, naming the rule.
    assert res.returncode != 0 and re.search(r'"ContainerRestarting": could not parse expression', res.stdout), \
        res.stdout[-3000:]
    assert node.check_output("sha256sum /etc/prometheus/rules.d/hna-cloudos.rules.yml") == before
    assert all(r["health"] == "ok" for g in prometheus("/api/v1/rules")["groups"] for r in g["rules"])


def test_a_drifted_server_configuration_is_put_back_and_reloaded_in_place():
    node = node_host(SERVER)
    pids = {name: node.check_output(f"pgrep -o -f '^/usr/bin/{name}( |$)'") for name in ("prometheus", "prometheus-alertmanager")}
    try:
        node.check_output("sed -i 's/group_wait: .*/group_wait: 1h/' /etc/prometheus/alertmanager.yml && "
                          "sed -i 's/^  - name: hna-cloudos-hosts/  - name: drifted/' /etc/prometheus/rules.d/hna-cloudos.rules.yml")
        res = run_playbook("playbooks/monitoring.yml", "-l", SERVER, "--check", "--diff")
        assert res.returncode == 0 and "group_wait: 1h" in res.stdout and "drifted" in res.stdout, res.stdout[-3000:]
        assert "group_wait: 1h" in node.file("/etc/prometheus/alertmanager.yml").content_string
        res = run_playbook("playbooks/monitoring.yml", "-l", SERVER)
        assert res.returncode == 0 and re.search(r"RUNNING HANDLER \[monitoring_server : Reload Alertmanager", res.stdout), \
            res.stdout[-3000:]
        groups = wait_for(lambda: (lambda g: g if "hna-cloudos-hosts" in g else None)(
            [group["name"] for group in prometheus("/api/v1/rules")["groups"]]), 30, "the rules reloaded", 1)
        assert "drifted" not in groups
        # Read again in place (SIGHUP), not restarted: the same processes.
        assert {name: node.check_output(f"pgrep -o -f '^/usr/bin/{name}( |$)'") for name in pids} == pids
        res = run_playbook("playbooks/monitoring.yml", "-l", SERVER)
        assert res.returncode == 0 and re.search(r"\bchanged=0\b", res.stdout), changed_tasks(res.stdout)
    finally:
        run_playbook("playbooks/monitoring.yml", "-l", SERVER)

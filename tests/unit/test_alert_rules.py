"""The alert rules of role monitoring_server (templates/hna-cloudos.rules.yml.j2), rendered by ansible-playbook as the
role renders them (its defaults and vars, with and without overridden `for` times), checked with promtool (Debian 12's
Prometheus 2.42, which tools/setup.sh installs into the virtualenv) and run against the rule unit tests of
tests/promtool/: every alert fires where it must and stays quiet where it must not."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "monitoring_server"
TEMPLATE = ROLE / "templates" / "hna-cloudos.rules.yml.j2"
PROMTOOL_TESTS = REPO / "tests" / "promtool"
# The name the rule unit tests give in rule_files: the rendered rules are put next to them under that name.
RULES_NAME = "hna-cloudos.rules.yml"
# Short `for` times as the lab sets them (for two alerts only: the others must keep their defaults). The tests of
# short-for.test.yml are written for them.
SHORT_FOR = {"monitoring_server_alert_for": {"NodeDown": "15s", "BackupStale": "10s"}}


def tool(name):
    """A program of the virtualenv this runs in (else of the repository's .venv), else one on PATH."""
    for directory in (Path(sys.prefix) / "bin", REPO / ".venv" / "bin"):
        if (directory / name).is_file() and os.access(directory / name, os.X_OK):
            return str(directory / name)
    return shutil.which(name)


def promtool():
    """The promtool to run: a test that needs it fails (never skips) without it."""
    path = tool("promtool")
    if not path:
        pytest.fail("promtool is missing: run tools/setup.sh (it installs promtool into the virtualenv)")
    return path


def render(directory, overrides):
    """The rules file as the role writes it: ansible-playbook renders the template with the role's defaults and vars,
    overrides given as extra vars (which win over both, as an inventory's values win over the role's defaults)."""
    directory.mkdir()
    rendered = directory / RULES_NAME
    play = [{
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
        "tasks": [{"name": "Render the alert rules",
                   "ansible.builtin.template": {"src": str(TEMPLATE), "dest": str(rendered), "mode": "0644"}}],
    }]
    (directory / "render.yml").write_text(json.dumps(play, indent=2))
    (directory / "overrides.json").write_text(json.dumps(overrides))
    playbook = tool("ansible-playbook")
    assert playbook, "ansible-playbook is missing: run tools/setup.sh"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run([playbook, "-i", "localhost,", "-e", "@" + str(directory / "overrides.json"),
                          str(directory / "render.yml")], cwd=directory, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return rendered


@pytest.fixture(scope="module")
def default_rules(tmp_path_factory):
    return render(tmp_path_factory.mktemp("rules") / "defaults", {})


@pytest.fixture(scope="module")
def short_for_rules(tmp_path_factory):
    return render(tmp_path_factory.mktemp("rules") / "short-for", SHORT_FOR)


def alerts(rules):
    """{alert name: rule} of a rendered rules file."""
    return {rule["alert"]: rule for group in yaml.safe_load(rules.read_text())["groups"] for rule in group["rules"]}


def default_for():
    return yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__monitoring_server_alert_for_defaults"]


def run_unit_tests(rules, names, tmp_path):
    """promtool test rules on the files of tests/promtool/ named, each next to a copy of the rendered rules."""
    shutil.copy(rules, tmp_path / RULES_NAME)
    for name in names:
        shutil.copy(PROMTOOL_TESTS / name, tmp_path / name)
    return subprocess.run([promtool(), "test", "rules", *names], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)


def test_the_rendered_rules_keep_prometheus_templates_and_leave_no_jinja(default_rules):
    text = default_rules.read_text()
    assert not text.startswith("#jinja2")
    assert "[[" not in text and "]]" not in text
    assert "{{ $labels.instance }}" in text
    assert "hna_container_restarts_total[15m]" in text
    assert 'avg_over_time(probe_success{kind=~"lb|glb|app"}[5m])' in text


def test_promtool_checks_the_rules_and_counts_every_alert(default_rules):
    res = subprocess.run([promtool(), "check", "rules", str(default_rules)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    count = len(re.findall(r"^\s*- alert:", default_rules.read_text(), re.MULTILINE))
    assert count == len(default_for())
    assert f"SUCCESS: {count} rules found" in res.stdout


def test_each_alert_has_its_default_for_time(default_rules):
    assert {name: rule["for"] for name, rule in alerts(default_rules).items()} == default_for()


def test_overridden_for_times_land_and_the_others_keep_their_defaults(short_for_rules):
    expected = dict(default_for(), **SHORT_FOR["monitoring_server_alert_for"])
    assert {name: rule["for"] for name, rule in alerts(short_for_rules).items()} == expected


DEFAULT_TESTS = ["hosts.test.yml", "containers.test.yml", "databases.test.yml", "services.test.yml"]


@pytest.mark.parametrize("name", DEFAULT_TESTS)
def test_the_rule_unit_tests_pass_with_the_defaults(default_rules, tmp_path, name):
    res = run_unit_tests(default_rules, [name], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_the_rule_unit_tests_of_short_for_times_pass_with_them(short_for_rules, tmp_path):
    res = run_unit_tests(short_for_rules, ["short-for.test.yml"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_short_for_unit_tests_fail_with_the_default_times(default_rules, tmp_path):
    # Else they would not show that the short times are the ones rendered.
    res = run_unit_tests(default_rules, ["short-for.test.yml"], tmp_path)
    assert res.returncode != 0
    output = res.stdout + res.stderr
    assert "alertname: NodeDown, time: 15s" in output and "alertname: BackupStale, time: 1m" in output, output


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_must_not(default_rules):
    # promtool compares all labels and annotations of the alerts expected to fire with those that do.
    fires, quiet = set(), set()
    for name in DEFAULT_TESTS:
        for case in yaml.safe_load((PROMTOOL_TESTS / name).read_text())["tests"]:
            for check in case["alert_rule_test"]:
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = set(alerts(default_rules))
    assert names - fires == set(), "alerts no test sees fire"
    assert names - quiet == set(), "alerts no test checks stay quiet"
    assert (fires | quiet) - names == set(), "tests of alerts the rules do not have"

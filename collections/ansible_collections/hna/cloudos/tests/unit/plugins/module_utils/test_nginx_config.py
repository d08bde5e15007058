# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the nginx configuration switch: the pure helpers, the switch with a fake nginx, the script with real sh."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from ansible_collections.hna.cloudos.plugins.module_utils import _nginx_config as nc


class FakeNginx(object):
    """Stands for :class:`NginxContainer`: a mount of ``source`` at /etc/nginx/conf.d and scripted exec results."""

    container = 'lb'
    docker_host = 'unix:///var/run/docker.sock'

    def __init__(self, source, results=None, running=True):
        self.source = str(source)
        self.results = list(results or [])
        self.running = running
        self.calls = []
        self.seen = []

    def inspect(self):
        if not self.running:
            raise nc.NginxConfigError('container lb does not run')
        return {'Mounts': [{'Type': 'bind', 'Source': self.source, 'Destination': '/etc/nginx/conf.d'},
                           {'Type': 'volume', 'Source': '/var/lib/docker/volumes/x', 'Destination': '/data'}]}

    def run(self, action, timeout=0.0):
        self.calls.append(action)
        path = os.path.join(self.source, 'app.conf')
        self.seen.append(open(path).read() if os.path.exists(path) else None)
        return self.results.pop(0)

    def log_errors(self, since):
        return ['[emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)']


OK = (0, 'master=1\nold=7 8 \nnew=21 22 \n')


def test_container_path_follows_the_longest_bind_mount(tmp_path):
    mounts = [{'Type': 'bind', 'Source': str(tmp_path), 'Destination': '/etc/nginx'},
              {'Type': 'bind', 'Source': str(tmp_path / 'conf.d'), 'Destination': '/etc/nginx/conf.d'},
              {'Type': 'volume', 'Source': str(tmp_path / 'other'), 'Destination': '/other'}]
    assert nc.container_path(mounts, str(tmp_path / 'conf.d' / 'a.conf')) == '/etc/nginx/conf.d/a.conf'
    assert nc.container_path(mounts, str(tmp_path / 'nginx.conf')) == '/etc/nginx/nginx.conf'
    assert nc.container_path(mounts, str(tmp_path / 'other' / 'x.conf')) == '/etc/nginx/other/x.conf'
    assert nc.container_path(mounts, str(tmp_path) + '-sibling/a.conf') is None
    assert nc.container_path([], '/a.conf') is None


def test_nginx_error_line_and_script_output():
    output = ('nginx: [emerg] unknown directive "foo" in /etc/nginx/conf.d/a.conf:3\n'
              'nginx: configuration file /etc/nginx/nginx.conf test failed\n')
    assert nc.nginx_error_line(output) == 'nginx: [emerg] unknown directive "foo" in /etc/nginx/conf.d/a.conf:3'
    logged = '2026/12/01 15:58:12 [emerg] 157#157: unknown directive "x" in /etc/nginx/conf.d/app.conf:4\n'
    assert nc.nginx_error_line(logged) == '[emerg] unknown directive "x" in /etc/nginx/conf.d/app.conf:4'
    assert nc.nginx_error_line('something odd\n') == 'something odd'
    assert nc.nginx_error_line('') == 'nginx -t failed without output'
    assert nc.parse_script_output('master=1\nold=7 8 \nnew=9 \nnoise\nx=1\n') == {'master': '1', 'old': '7 8', 'new': '9'}
    assert nc.pid_list('7 8 ') == [7, 8]


@pytest.mark.parametrize('value, expected', [('0644', 0o644), ('644', 0o644), ('0600', 0o600), (0o640, 0o640)])
def test_parse_mode(value, expected):
    assert nc.parse_mode(value) == expected


@pytest.mark.parametrize('value', ['rw-r--r--', '0888', '', '12'])
def test_parse_mode_refuses(value):
    with pytest.raises(ValueError):
        nc.parse_mode(value)


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    path = str(tmp_path / 'a.conf')
    nc.atomic_write(path, b'one\n', 0o640)
    nc.atomic_write(path, b'two\n', 0o644)
    assert open(path, 'rb').read() == b'two\n'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(str(tmp_path)) == ['a.conf']


def test_switch_writes_keeps_previous_and_reloads(tmp_path):
    (tmp_path / 'app.conf').write_text('old\n')
    nginx = FakeNginx(tmp_path, [OK])
    result = nc.switch(nginx, str(tmp_path / 'app.conf'), 'new\n', 0o644)
    assert result['changed'] and result['reloaded']
    assert result['container_path'] == '/etc/nginx/conf.d/app.conf'
    assert result['workers'] == {'master': 1, 'old': [7, 8], 'new': [21, 22]}
    assert result['previous_checksum'] == nc.checksum(b'old\n') and result['checksum'] == nc.checksum(b'new\n')
    assert nginx.calls == ['wait'] and nginx.seen == ['new\n']
    assert (tmp_path / 'app.conf.previous').read_text() == 'old\n'
    assert result['diff']['before'] == 'old\n' and result['diff']['after'] == 'new\n'


def test_same_content_and_check_mode_touch_nothing(tmp_path):
    (tmp_path / 'app.conf').write_text('same\n')
    nginx = FakeNginx(tmp_path)
    result = nc.switch(nginx, str(tmp_path / 'app.conf'), 'same\n', 0o644)
    assert not result['changed'] and not result['reloaded'] and nginx.calls == []
    result = nc.switch(nginx, str(tmp_path / 'app.conf'), 'other\n', 0o644, check_mode=True)
    assert result['changed'] and not result['reloaded'] and nginx.calls == []
    assert (tmp_path / 'app.conf').read_text() == 'same\n' and not (tmp_path / 'app.conf.previous').exists()


def test_refused_config_is_put_back(tmp_path):
    (tmp_path / 'app.conf').write_text('old\n')
    test_output = ('nginx: [emerg] unknown directive "oops" in /etc/nginx/conf.d/app.conf:1\n'
                   'nginx: configuration file /etc/nginx/nginx.conf test failed\n')
    nginx = FakeNginx(tmp_path, [(nc.EXIT_TEST_FAILED, test_output)])
    with pytest.raises(nc.NginxConfigError) as caught:
        nc.switch(nginx, str(tmp_path / 'app.conf'), 'oops\n', 0o644)
    assert 'unknown directive "oops"' in str(caught.value) and 'put back' in str(caught.value)
    assert nginx.seen == ['oops\n']  # nginx tested the new file
    assert (tmp_path / 'app.conf').read_text() == 'old\n'
    assert caught.value.results['changed'] is False
    assert caught.value.results['checksum'] == nc.checksum(b'old\n')


def test_refused_new_file_is_removed(tmp_path):
    nginx = FakeNginx(tmp_path, [(nc.EXIT_TEST_FAILED, 'nginx: [emerg] bad\n')])
    with pytest.raises(nc.NginxConfigError):
        nc.switch(nginx, str(tmp_path / 'app.conf'), 'bad\n', 0o644)
    assert not (tmp_path / 'app.conf').exists()


def test_reload_without_new_workers_is_put_back_and_signalled_again(tmp_path):
    (tmp_path / 'app.conf').write_text('old\n')
    nginx = FakeNginx(tmp_path, [(nc.EXIT_RELOAD_TIMEOUT, 'master=1\nold=7 \nnew=\nleft=7 \n'), (0, 'master=1\n')])
    with pytest.raises(nc.NginxConfigError) as caught:
        nc.switch(nginx, str(tmp_path / 'app.conf'), 'new\n', 0o644, reload_timeout=2)
    assert 'Address already in use' in str(caught.value) and 'old workers still active: 7' in str(caught.value)
    assert nginx.calls == ['wait', 'reload'] and nginx.seen == ['new\n', 'old\n']
    assert (tmp_path / 'app.conf').read_text() == 'old\n'


def test_absent_removes_and_reloads(tmp_path):
    (tmp_path / 'app.conf').write_text('old\n')
    nginx = FakeNginx(tmp_path, [OK])
    result = nc.switch(nginx, str(tmp_path / 'app.conf'), None, 0o644, state='absent')
    assert result['changed'] and result['reloaded'] and result['checksum'] is None
    assert not (tmp_path / 'app.conf').exists() and (tmp_path / 'app.conf.previous').read_text() == 'old\n'
    result = nc.switch(nginx, str(tmp_path / 'app.conf'), None, 0o644, state='absent')
    assert not result['changed']


def test_path_outside_the_mounts_is_refused(tmp_path):
    nginx = FakeNginx(tmp_path / 'conf.d')
    with pytest.raises(nc.NginxConfigError, match='not in a directory bind-mounted into container lb'):
        nc.switch(nginx, str(tmp_path / 'app.conf'), 'x\n', 0o644)
    assert not (tmp_path / 'app.conf').exists()


class FakeClock(object):
    """time.time and time.sleep of a clock that only moves when slept on."""

    def __init__(self, now):
        self.now = now
        self.slept = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_wait_until_sleeps_to_the_instant_in_steps_of_at_most_a_second():
    clock = FakeClock(100.0)
    assert nc.wait_until(102.5, clock.time, clock.sleep) == 0.0
    assert clock.slept == [1.0, 1.0, 0.5] and clock.now == 102.5


def test_wait_until_counts_a_late_wake_up_as_in_time():
    clock = FakeClock(100.0)

    def oversleep(seconds):
        clock.sleep(seconds + 0.2)  # a busy host wakes the sleeper up late

    assert nc.wait_until(100.5, clock.time, oversleep) == 0.0 and clock.now == 100.7


def test_wait_until_reports_how_late_it_came():
    clock = FakeClock(100.0)
    assert nc.wait_until(98.75, clock.time, clock.sleep) == 1.25
    assert nc.wait_until(99.995, clock.time, clock.sleep) == 0.0  # less than 10 ms is in time
    assert nc.wait_until(99.99, clock.time, clock.sleep) == 0.01
    assert clock.slept == []


def test_switch_waits_for_switch_at_after_its_checks(tmp_path, monkeypatch):
    (tmp_path / 'app.conf').write_text('old\n')
    clock = FakeClock(1000.0)
    monkeypatch.setattr(nc.time, 'time', clock.time)
    monkeypatch.setattr(nc.time, 'sleep', clock.sleep)

    class Recorder(FakeNginx):
        def inspect(self):
            self.times.append('inspect at %s' % clock.now)
            return super(Recorder, self).inspect()

        def run(self, action, timeout=0.0):
            self.times.append('%s at %s' % (action, clock.now))
            return super(Recorder, self).run(action, timeout)

    nginx = Recorder(tmp_path, [OK, OK])
    nginx.times = []
    result = nc.switch(nginx, str(tmp_path / 'app.conf'), 'new\n', 0o644, switch_at=1002.0)
    assert nginx.times == ['inspect at 1000.0', 'wait at 1002.0']
    assert result['late'] == 0.0 and result['switched_at'] == 1002.0
    # An instant that has passed: at once, and how late it was is returned.
    result = nc.switch(nginx, str(tmp_path / 'app.conf'), 'newer\n', 0o644, switch_at=1001.5)
    assert result['late'] == 0.5 and nginx.times[-1] == 'wait at 1002.0'
    # Nothing to change, or check mode: no wait at all.
    slept = list(clock.slept)
    assert not nc.switch(nginx, str(tmp_path / 'app.conf'), 'newer\n', 0o644, switch_at=2000.0)['changed']
    assert nc.switch(nginx, str(tmp_path / 'app.conf'), 'x\n', 0o644, check_mode=True, switch_at=2000.0)['changed']
    assert clock.slept == slept and 'late' not in nc.switch(nginx, str(tmp_path / 'app.conf'), 'newer\n', 0o644)


def test_switch_script_reports_a_failing_test(tmp_path):
    # A stand-in nginx whose "nginx -t" fails: the script prints its output and exits 3.
    fake = tmp_path / 'nginx'
    fake.write_text('#!/bin/sh\necho "nginx: [emerg] broken" >&2\nexit 1\n')
    fake.chmod(0o755)
    env = dict(os.environ, PATH='%s:%s' % (tmp_path, os.environ.get('PATH', '')))
    result = subprocess.run(['sh', '-c', nc.SWITCH_SCRIPT, 'switch', 'wait', '100'], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == nc.EXIT_TEST_FAILED
    assert 'nginx: [emerg] broken' in result.stdout
    fake.write_text('#!/bin/sh\nexit 0\n')
    result = subprocess.run(['sh', '-c', nc.SWITCH_SCRIPT, 'switch', 'test', '100'], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0

# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of http_check against real HTTP servers on 127.0.0.1 (threads of this process)."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from ansible_collections.hna.cloudos.plugins.modules import http_check


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers with the server's ``status`` and ``version`` (X-App-Version); counts the requests."""

    def do_GET(self):  # noqa: N802 - the name http.server calls
        self.server.hits += 1
        body = b'%s\n' % self.server.version.encode()
        self.send_response(self.server.status)
        self.send_header('X-App-Version', self.server.version)
        self.send_header('X-Echo-Variant', self.headers.get('X-Variant') or '-')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    httpd.status, httpd.version, httpd.hits = 200, '2', 0
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = 'http://127.0.0.1:%d/health' % httpd.server_address[1]
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 where nothing listens."""
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.fixture
def run(module_exits, module_args):
    module_exit, module_fail = module_exits

    def run_module(**args):
        with module_args(args):
            with pytest.raises((module_exit, module_fail)) as outcome:
                http_check.main()
        return outcome.value.result

    return run_module


def test_all_answers_right_for_the_whole_window(run, server):
    result = run(checks=[{'url': server.url, 'name': 'node1', 'headers': {'X-App-Version': '2'}}], duration=0.5, interval=0.1)
    assert not result.get('failed') and result['changed'] is False
    assert result['failures'] == []
    # Rounds start every 0.1 s (at most 5 in 0.5 s); on a loaded machine a slow answer delays the next round, so
    # there may be fewer, but the last one always starts at the end of the window (the exact schedule is tested
    # with a fake clock below).
    assert 2 <= result['rounds'] <= 5 and result['requests'] == result['rounds'] == server.hits
    assert result['checks'] == [{'name': 'node1', 'url': server.url, 'ok': result['rounds'], 'failed': 0}]
    assert 0.35 <= result['seconds'] < 5


class FakeClock(object):
    """A clock that ``sleep`` moves forward, and each answer by ``answer_seconds``."""

    def __init__(self, answer_seconds):
        self.now = 1024.0
        self.answer_seconds = answer_seconds
        self.round_starts = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


# Times that binary floating point holds exactly (a window of 0.5 s, a round every 0.125 s).
@pytest.mark.parametrize('answer_seconds, starts', [
    (0.015625, [0.0, 0.125, 0.25, 0.375]),   # quick answers: a round every interval
    (0.25, [0.0, 0.25, 0.5]),                # slow answers delay the next round; the last starts at the window's end
])
def test_the_schedule_of_the_rounds(monkeypatch, answer_seconds, starts):
    fake = FakeClock(answer_seconds)

    def check_once(check, timeout, validate_certs, use_proxy, status_codes):
        fake.round_starts.append(fake.now - 1024.0)
        fake.now += fake.answer_seconds
        return 200, {}, None

    monkeypatch.setattr(http_check, 'check_once', check_once)
    result = http_check.run_checks([{'url': 'http://127.0.0.1:9/health'}], 0.5, 0.125, 1, [200], True,
                                   clock=fake.clock, sleep=fake.sleep)
    assert fake.round_starts == starts
    assert result['rounds'] == result['requests'] == len(starts) and result['failures'] == []


def test_a_wrong_header_is_named_and_ends_the_checks(run, server):
    server.version = '1'
    result = run(checks=[{'url': server.url, 'name': 'hz-node1', 'headers': {'X-App-Version': '2'}}], duration=5, interval=0.1)
    assert result['failed']
    assert result['rounds'] == 1  # stop_on_failure
    assert result['failures'][0]['name'] == 'hz-node1'
    assert result['failures'][0]['problem'] == 'X-App-Version 1 (expected 2)'
    assert result['failures'][0]['headers'] == {'X-App-Version': '1'}
    assert 'hz-node1 (GET %s) in round 1: X-App-Version 1 (expected 2)' % server.url in result['msg']


def test_request_headers_are_sent(run, server):
    result = run(checks=[{'url': server.url, 'request_headers': {'X-Variant': 'b'}, 'headers': {'X-Echo-Variant': 'b'}},
                         {'url': server.url, 'headers': {'X-Echo-Variant': '-'}}], duration=0)
    assert not result.get('failed'), result
    assert [c['ok'] for c in result['checks']] == [1, 1]


def test_an_error_status_and_a_refused_connection_fail(run, server, closed_port):
    server.status = 503
    refused = 'http://127.0.0.1:%d/health' % closed_port
    result = run(checks=[{'url': server.url}, {'url': refused, 'name': 'hz-node2'}], duration=0)
    assert result['failed']
    by_name = {f['name']: f for f in result['failures']}
    assert by_name[server.url]['status'] == 503 and by_name[server.url]['problem'] == 'status 503'
    assert by_name['hz-node2']['status'] is None and by_name['hz-node2']['problem'].startswith('no answer')
    assert [c['failed'] for c in result['checks']] == [1, 1]


def test_without_stop_on_failure_every_round_runs(run, server):
    server.status = 500
    result = run(checks=[{'url': server.url}], duration=0.3, interval=0.1, stop_on_failure=False)
    # At least two rounds whatever the machine's load (the last starts at the window's end), every one failed.
    assert result['failed'] and result['rounds'] >= 2 and len(result['failures']) == result['rounds']


def test_given_status_codes(run, server):
    server.status = 404
    assert not run(checks=[{'url': server.url}], duration=0, status_codes=[404]).get('failed')


def test_check_mode_checks_too(run, server):
    result = run(checks=[{'url': server.url}], duration=0, _ansible_check_mode=True)
    assert not result.get('failed') and server.hits == 1


@pytest.mark.parametrize('args, message', [
    ({'checks': []}, 'checks is empty'),
    ({'checks': [{'url': 'ftp://example.invalid/'}]}, 'is not an http:// or https:// URL'),
    ({'checks': [{'url': 'http://127.0.0.1:1/'}], 'interval': 0}, 'interval and timeout must be more than 0'),
    ({'checks': [{'url': 'http://127.0.0.1:1/'}], 'duration': -1}, 'duration must be 0 or more'),
])
def test_bad_input_is_refused_naming_it(run, args, message):
    result = run(**args)
    assert result['failed'] and message in result['msg']

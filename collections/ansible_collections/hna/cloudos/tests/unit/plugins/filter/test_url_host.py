# Copyright: Contributors to the hna.cloudos collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Unit tests of the url_host filter."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.hna.cloudos.plugins.filter.url_host import FilterModule, url_host


@pytest.mark.parametrize('address, port, expected', [
    ('10.231.0.11', None, '10.231.0.11'),
    ('10.231.0.11', 5000, '10.231.0.11:5000'),
    ('10.231.0.11', '5000', '10.231.0.11:5000'),
    ('::1', None, '[::1]'),
    ('::1', 9100, '[::1]:9100'),
    ('[::1]', None, '[::1]'),
    ('[::1]', 9100, '[::1]:9100'),
    ('2001:db8::10', 80, '[2001:db8::10]:80'),
    ('db1.example.com', 3306, 'db1.example.com:3306'),
    ('', None, ''),
    ('', 80, ':80'),
    (None, None, ''),
])
def test_url_host(address, port, expected):
    assert url_host(address, port) == expected


@pytest.mark.parametrize('address, port, match', [
    (3306, None, 'the address must be text, not int'),
    ('::1', 0, 'the port of ::1 must be a number from 1 to 65535'),
    ('::1', 65536, 'must be a number from 1 to 65535'),
    ('::1', 'http', 'must be a number from 1 to 65535'),
    ('::1', True, 'must be a number from 1 to 65535'),
])
def test_bad_input_names_it(address, port, match):
    with pytest.raises(AnsibleFilterError, match=match):
        url_host(address, port)


def test_the_filter_is_registered():
    assert FilterModule().filters() == {'url_host': url_host}

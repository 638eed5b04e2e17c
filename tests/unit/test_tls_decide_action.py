"""tls_decide's controller side (an action plugin): its input checks and result, with the TLS fetch faked."""

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.certfleet.tls.plugins.action import tls_decide
from ansible_collections.certfleet.tls.plugins.module_utils.errors import CertfleetError

PARAMS = dict(renew_at_fraction=0.33, renew_before_days=None, force=False, timeout=1.0, workers=4)


def test_a_target_without_address_is_refused_by_index():
    with pytest.raises(AnsibleActionFail, match=r"targets\[1\] needs host and address"):
        tls_decide.decide_fleet(dict(PARAMS, targets=[{"host": "a", "address": "127.0.0.1"}, {"host": "b"}]))


def test_a_bad_renewal_rule_is_refused_by_name():
    with pytest.raises(CertfleetError, match="renew_at_fraction must be between 0 and 1"):
        tls_decide.decide_fleet(dict(PARAMS, renew_at_fraction=1.5, targets=[]))


def test_an_unreachable_host_is_decided_over_ssh(monkeypatch):
    monkeypatch.setattr(tls_decide, "served_leaf", lambda address, port, sni, timeout: (None, "connection refused"))
    targets = [{"host": "web1", "address": "192.0.2.1", "port": 443,
                "requests": [{"name": "www", "domains": ["www.example.org"], "dir": "/ssl/www"}]}]
    result = tls_decide.decide_fleet(dict(PARAMS, targets=targets))
    assert result["changed"] is False and result["ssh_hosts"] == ["web1"]
    assert "connection refused" in str(result["hosts"]["web1"])

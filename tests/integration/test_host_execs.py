"""How many times a run starts Python on each host (with pipelining, one module run over SSH each).

A due host costs 2 (certificate_order_ahead, the default): the read, which also stages the next key, the preflight
probe and the challenge files of the order placed ahead when the host's hint says the certificate is probably due (a
placeholder here), and the deploy. Without the order placed ahead, a challenge push comes between them: 3. A host
with nothing due costs 1. The stage-ahead is only a hint: a certificate that the hint finds valid but the control
node makes due (certificate_force) gets its key, probe and challenge files in a separate stage exec, 3 in all (4
without the order placed ahead), and is renewed all the same.
"""

import collections
import json
import os

from rigtools import BASE, run_playbook, served_certificate

HOSTS = {"127.0.1.1": "host1", "127.0.1.2": "host2"}


def counting_inventory(tmp_path):
    """A second inventory that points host1 and host2 at a python3 wrapper logging each start with the host's
    address (sshd's SSH_CONNECTION); the rig's own inventory still gives everything else."""
    log = tmp_path / "python-starts.log"
    wrapper = tmp_path / "python3"
    wrapper.write_text('#!/bin/sh\necho "$SSH_CONNECTION" >> %s\nexec /usr/bin/python3 "$@"\n' % log)
    wrapper.chmod(0o755)
    inventory = tmp_path / "count.yml"
    inventory.write_text(json.dumps({"all": {"children": {"webservers": {"hosts": dict(
        (host, {"ansible_python_interpreter": str(wrapper)}) for host in HOSTS.values())}}}}))
    return inventory, log


def starts(log):
    """{host: Python starts} since the log was last cleared."""
    counts = collections.Counter()
    if log.exists():
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) == 4:
                counts[HOSTS.get(fields[2], fields[2])] += 1
        log.unlink()
    return dict(counts)


def issue(inventory, *extra):
    return run_playbook("certfleet.tls.issue", "-i", os.path.join(BASE, "inventory.yml"), "-i", str(inventory),
                        *extra, limit="host1,host2")


def test_a_due_host_costs_two_execs_and_a_host_with_nothing_due_one(fresh_rig, tmp_path):
    inventory, log = counting_inventory(tmp_path)
    first = issue(inventory)
    assert first.rc == 0, first
    assert starts(log) == {"host1": 2, "host2": 2}, "read (key, probe and challenges staged ahead), deploy"
    serials = dict((host, served_certificate(ip, "%s.test" % host, cafile=fresh_rig["pebble_root"]).serial_number)
                   for ip, host in HOSTS.items())
    for host in HOSTS.values():
        release = os.path.realpath(os.path.join(BASE, "hosts", host, "ssl", "live"))
        not_before, not_after = (int(v) for v in open(os.path.join(release, "validity")).read().split())
        assert not_after > not_before, "the deploy wrote the hint the next reads use"

    again = issue(inventory)
    assert again.rc == 0 and all(r["changed"] == 0 for r in again.recap.values()), again
    assert starts(log) == {"host1": 1, "host2": 1}, "nothing due: the read alone, and nothing staged ahead"
    assert not os.path.exists(os.path.join(BASE, "hosts", "host1", "ssl", "next"))

    forced = issue(inventory, "-e", "certificate_force=true", "--limit", "host1")
    assert forced.rc == 0, forced
    assert starts(log) == {"host1": 3}, "the hint said valid: read, stage (key, probe, challenges), deploy"
    renewed = served_certificate("127.0.1.1", "host1.test", cafile=fresh_rig["pebble_root"]).serial_number
    assert renewed != serials["host1"]

    late = issue(inventory, "-e", "certificate_force=true", "-e", "certificate_order_ahead=false", "--limit", "host1")
    assert late.rc == 0, late
    assert starts(log) == {"host1": 4}, "ordered after the decide step: read, stage, push, deploy"

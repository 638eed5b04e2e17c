"""AWX job slicing on the rig: 4 slices of one job, run at once under ansible-runner, one account, 12 hosts, and one
2-backend group that the slicing splits (issue 11, point 3).

How AWX slices, and how this test mimics it (AWX's awx/main/models/inventory.py, ``Inventory.get_sliced_hosts`` and
``get_script_data``; awx/main/tasks/jobs.py, ``build_inventory``):

- A job template with ``job_slice_count: N`` launches a workflow of N ordinary jobs that run at the same time.
- Slice k (1-based) holds the inventory's enabled hosts **ordered by name**, every N-th one from the (k-1)-th:
  ``hosts[k-1::N]``. Hosts are dealt out like cards; groups play no part in it.
- Each slice gets a **subset inventory**, not the whole inventory with a ``--limit``: the inventory written into the
  job's private data dir (``inventory/hosts``, an executable script that prints the JSON) lists only that slice's
  hosts and their hostvars. Every group is still there with its vars, but its ``hosts`` are cut down to the slice's
  members. A limit of the job template, if any, is passed to every slice on top of that as ``--limit``.
- Every slice gets the same extra vars, so the account key that the credential injects is the same in all of them.

So a slice sees ``groups['pair']`` as its own backend only: the group cannot tell the certificate role that another
backend exists. The membership that survives slicing is a group var (AWX keeps group vars in every slice), which is why
the pair's group declares its hosts in ``certificate_backend_hosts``.

The test builds that inventory script for each slice (no limit), injects one new account key through the credential
type of docs/awx.md into each slice's ``env/extravars``, runs the 4 slices concurrently (threads around
``ansible_runner.run``), then checks: every complete certificate is issued and served (over TLS from here, per host and
SNI, chain verified against Pebble's root), both halves of the split group fail naming the backend the slice does not
hold, Pebble got no order for the pair's name (10 orders, whose 10 certificates are the 10 served ones, and the name
never reached Pebble), and no job event, stdout or artifact of any slice holds private-key material.
"""

import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import rig as rigmod
from rigtools import BASE, served_certificate, served_unverified
from test_awx_runner import artifact_sources, inject_credential, keys_in_use, key_needles, leaks, private_data_dir

HOSTS = 12
SLICES = 4
PAIR = ("host2", "host7")
PAIR_NAME = "pair.test"


def awx_slices(hosts, count):
    """Inventory.get_sliced_hosts over hosts ordered by name: slice k holds hosts[k-1::count]."""
    ordered = sorted(hosts)
    return [ordered[offset::count] for offset in range(count)]


def awx_script_data(inventory, slice_hosts, group_vars):
    """What Inventory.get_script_data(hostvars=True, slice_number=k, slice_count=N) returns for one slice.

    ``inventory`` is the rig's inventory.yml (all.vars, all.children.webservers.hosts); ``group_vars`` adds groups
    (name -> dict(hosts=[...], vars={...})) as the AWX inventory would hold them.
    """
    all_vars = dict(inventory["all"]["vars"])
    del all_vars["certificate_account_key_path"]  # in AWX the key comes from the credential, never the inventory
    hostvars = inventory["all"]["children"]["webservers"]["hosts"]
    groups = {"webservers": {"hosts": sorted(hostvars)}}
    groups.update(group_vars)
    data = {"all": {"vars": all_vars, "hosts": [], "children": sorted(groups)}}
    for name, group in groups.items():
        info = {}
        members = [host for host in group.get("hosts") or [] if host in slice_hosts]  # the slice's members only
        if members:
            info["hosts"] = members
        if group.get("vars"):
            info["vars"] = group["vars"]
        if info:
            data[name] = info
    data["_meta"] = {"hostvars": {host: dict(hostvars[host]) for host in slice_hosts}}
    for host in slice_hosts:
        if host in (group_vars.get("pair") or {}).get("hosts", []):
            # The backends' names and group come from the group's vars: drop the rig's per-host shorthand name.
            del data["_meta"]["hostvars"][host]["certificate_domains"]
    return data


def slice_data_dir(root, number, script_data, extravars):
    """A job's private data dir as AWX writes it (test_awx_runner's layout: env/extravars 0600, env/envvars), with
    the slice's inventory script, inventory/hosts, in place of the whole inventory."""
    data = private_data_dir(root / ("slice%d" % number), extravars)
    os.unlink(os.path.join(data, "inventory", "hosts.yml"))
    script = os.path.join(data, "inventory", "hosts")
    with open(script, "w") as handle:
        handle.write("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(script_data))
    os.chmod(script, 0o700)
    return data


def run_slice(data, number):
    import ansible_runner
    started = time.monotonic()
    runner = ansible_runner.run(private_data_dir=data, ident="slice%d" % number, playbook="certfleet.tls.issue",
                                inventory=os.path.join(data, "inventory", "hosts"), quiet=True, timeout=600)
    return runner, time.monotonic() - started


@pytest.fixture(scope="module")
def rig12():
    """The rig with 12 hosts, every one on its placeholder; back to 3 hosts afterwards, whatever happened (the other
    tests expect 3: hosts 4..12 keep running, out of the inventory, as rig.up documents)."""
    started = time.monotonic()
    try:
        info = rigmod.up(hosts=HOSTS, base=BASE)
        rigmod.reset_hosts(base=BASE)
        print("rig up to %d hosts and reset: %.1fs" % (HOSTS, time.monotonic() - started))
        yield info
    finally:
        rigmod.up(hosts=3, base=BASE)


def test_four_concurrent_slices_issue_everything_but_the_split_group(rig12, pebble_log, tmp_path):
    root = rig12["pebble_root"]
    hosts = ["host%d" % index for index in range(1, HOSTS + 1)]
    assert sorted(rig12["host_names"]) == sorted(hosts)
    slices = awx_slices(hosts, SLICES)
    pair_slices = [number for number, members in enumerate(slices, start=1) if set(PAIR) & set(members)]
    assert len(pair_slices) == 2 and all(len(set(PAIR) & set(slices[n - 1])) == 1 for n in pair_slices), \
        "the pair must be split across two slices: %s" % slices
    complete = [host for host in hosts if host not in PAIR]

    rigmod.set_dns(PAIR_NAME, ["127.0.1.%s" % host[4:] for host in PAIR], base=BASE)
    with open(os.path.join(BASE, "inventory.yml")) as handle:
        inventory = yaml.safe_load(handle)
    pair_group = {"hosts": list(PAIR), "vars": {"certificate_domains": [PAIR_NAME], "certificate_backend_group": "pair",
                                                "certificate_backend_hosts": list(PAIR)}}
    account_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    extravars = inject_credential({"account_key": account_pem, "eab_kid": "", "eab_hmac_key": ""})
    datas = [slice_data_dir(tmp_path, number, awx_script_data(inventory, members, {"pair": pair_group}), extravars)
             for number, members in enumerate(slices, start=1)]

    log = pebble_log()
    mark = rigmod.pebble_log_mark(base=BASE)["offset"]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=SLICES) as pool:
        outcomes = list(pool.map(run_slice, datas, range(1, SLICES + 1)))
    print("4 slices at once: %.1fs (each: %s)" % (time.monotonic() - started,
                                                  ", ".join("%.1fs" % took for _runner, took in outcomes)))
    runners = [runner for runner, _took in outcomes]

    # The slices without a pair backend succeed; the two that hold one fail, on that host only.
    for number, (runner, members) in enumerate(zip(runners, slices), start=1):
        stdout = runner.stdout.read()
        assert sorted(runner.stats["ok"]) == sorted(members), (number, runner.stats)
        failed = sorted(runner.stats["failures"])
        if number in pair_slices:
            assert runner.status == "failed" and failed == [h for h in members if h in PAIR], (number, stdout[-6000:])
        else:
            assert runner.status == "successful" and runner.rc == 0 and failed == [], (number, stdout[-6000:])

    # Each half of the pair fails with a message that names its group and the backend this slice does not hold.
    for host in PAIR:
        other = [h for h in PAIR if h != host][0]
        runner = runners[[n for n in pair_slices if host in slices[n - 1]][0] - 1]
        messages = [json.dumps(event["event_data"].get("res", {})) for event in runner.events
                    if event.get("event") == "runner_on_failed" and event["event_data"].get("host") == host]
        assert messages, "no failed task for %s" % host
        assert any("backend group 'pair'" in m and "missing: %s" % other in m and "nothing was ordered" in m
                   for m in messages), messages
        assert os.readlink(os.path.join(BASE, "hosts", host, "ssl", "live")) == "placeholder"
        assert not os.path.exists(os.path.join(BASE, "hosts", host, "ssl", "next")), "nothing staged for %s" % host
        with open(os.path.join(BASE, "hosts", host, "ssl", "placeholder", "fullchain.pem"), "rb") as handle:
            placeholder = x509.load_pem_x509_certificate(handle.read())
        assert served_unverified("127.0.1.%s" % host[4:], PAIR_NAME) == placeholder, "%s serves its placeholder" % host

    # Every complete certificate was issued under the shared account, deployed and served with a valid chain.
    served = {}
    for host in complete:
        served[host] = served_certificate("127.0.1.%s" % host[4:], "%s.test" % host, cafile=root).serial_number
    assert len(set(served.values())) == len(complete)

    # Pebble: one order per complete certificate, and the certificates it issued are exactly those served; the pair's
    # name never reached the CA (no order, no authorization, no validation).
    text = rigmod.pebble_log_since(mark, base=BASE)
    orders = [r for r in log.requests() if r[0] == "POST" and r[1].startswith("/order-plz")]
    assert len(orders) == len(complete), orders
    issued = set(int(serial, 16) for serial in re.findall(r"Issued certificate serial ([0-9a-f]+) for order", text))
    assert issued == set(served.values()), (sorted(issued), served)
    assert PAIR_NAME not in text

    # No private key in anything AWX stores or shows, for any slice.
    sources = []
    for data, runner in zip(datas, runners):
        sources += artifact_sources(data)
        sources += [("event %s" % event.get("uuid"), json.dumps(event)) for event in runner.events]
    assert len([where for where, _text in sources if "/job_events/" in where]) > 20 * SLICES
    found = leaks(sources, key_needles(keys_in_use(account_pem)))
    assert len(found) == 0, found[:20]

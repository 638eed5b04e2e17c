"""A broken web-server configuration is never reloaded, and the host keeps serving its working certificate."""

import os

from rigtools import BASE, run_playbook, served_certificate

HOST = os.path.join(BASE, "hosts", "host1")


def test_broken_config_blocks_the_reload_and_keeps_the_old_pair(fresh_rig):
    root = fresh_rig["pebble_root"]
    assert run_playbook("certfleet.tls.issue", limit="host1").rc == 0
    working = served_certificate("127.0.1.1", "host1.test", cafile=root)
    release = os.readlink(os.path.join(HOST, "ssl", "live"))
    broken = os.path.join(HOST, "nginx", "conf.d", "broken.conf")
    with open(broken, "w") as handle:
        handle.write("this is not nginx syntax;\n")
    try:
        run = run_playbook("certfleet.tls.issue", limit="host1", extra_vars={"certificate_force": "true"})
        assert run.rc != 0
        assert "web server config test" in run.out and "kept the previous certificate" in run.out, run
        assert os.readlink(os.path.join(HOST, "ssl", "live")) == release
        still = served_certificate("127.0.1.1", "host1.test", cafile=root)
        assert still.serial_number == working.serial_number, "the old, working certificate must still be served"
        assert os.listdir(os.path.join(HOST, "webroot", ".well-known", "acme-challenge")) == []
    finally:
        os.unlink(broken)
    # once the configuration is fixed, the next run deploys (the staged key is reused)
    again = run_playbook("certfleet.tls.issue", limit="host1", extra_vars={"certificate_force": "true"})
    assert again.rc == 0, again
    assert served_certificate("127.0.1.1", "host1.test", cafile=root).serial_number != working.serial_number

"""certificate_deploy's ocsp_response: the new certificate's staple goes into the new release with the nginx
directives, before the switch; without a usable one the release goes live without a staple (never the old one)."""

import base64

# cdir is a fixture of test_certificate_deploy, used here by name
from test_certificate_deploy import cdir, deploy, new_pair, stage  # noqa: F401 pylint: disable=unused-import

STAPLE = b"\x30\x03\x0a\x01\x00new-staple"


def test_the_staple_goes_live_with_its_certificate(module_runner, cdir):  # noqa: F811
    cert, chain, key = new_pair()
    stage(cdir, key)
    result = deploy(module_runner, cdir, cert, chain, ocsp_response=base64.b64encode(STAPLE).decode(),
                    test_command=["/bin/sh", "-c", "test -s %s/live/ocsp.der" % cdir])
    assert not result.get("failed"), result
    release = result["release"]
    assert (cdir / "live" / "ocsp.der").read_bytes() == STAPLE and result["certificates"][0]["ocsp_staple"] is True
    assert 'ssl_stapling_file "%s/ocsp.der";' % release in (cdir / "live" / "nginx-stapling.conf").read_text()


def test_without_a_staple_the_new_release_has_none_and_still_goes_live(module_runner, cdir):  # noqa: F811
    cert, chain, key = new_pair()
    stage(cdir, key)
    first = deploy(module_runner, cdir, cert, chain, ocsp_response=base64.b64encode(STAPLE).decode())
    assert (cdir / "live" / "ocsp.der").exists(), first
    cert2, chain2, key2 = new_pair()
    stage(cdir, key2)
    second = deploy(module_runner, cdir, cert2, chain2)  # the renewal's certificate got no good staple
    assert not second.get("failed") and second["release"] != first["release"], second
    assert not (cdir / "live" / "ocsp.der").exists() and not (cdir / "live" / "nginx-stapling.conf").exists()
    cert3, chain3, key3 = new_pair()
    stage(cdir, key3)
    third = deploy(module_runner, cdir, cert3, chain3, ocsp_response="not base64!")
    assert not third.get("failed") and "without a staple" in str(third.get("warnings")), third
    assert not (cdir / "live" / "ocsp.der").exists() and third["certificates"][0]["ocsp_staple"] is False

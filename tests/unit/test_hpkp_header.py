"""hpkp_header as a real process: the header, the browser warning, the refusals, and no key in the output."""

import json
import shutil
import subprocess

import pytest

from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys

ACTIVE = keys.generate_private_key("ec256")
BACKUP = keys.generate_private_key("rsa2048")
ACTIVE_PEM = keys.private_key_to_pem(ACTIVE).decode()
ACTIVE_KEY_BODY = [line for line in ACTIVE_PEM.splitlines() if "-----" not in line]


def _openssl_pin_of_private_key(path):
    return subprocess.run(["bash", "-o", "pipefail", "-c",
                           "openssl pkey -in %s -pubout -outform der | openssl dgst -sha256 -binary | base64" % path],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def key_files(tmp_path):
    active_key = tmp_path / "active.key"
    active_key.write_text(ACTIVE_PEM)
    backup_csr = tmp_path / "backup.csr"
    backup_csr.write_bytes(keys.make_csr(BACKUP, ["www.example.org"]))
    return active_key, backup_csr


def assert_no_private_key(result):
    # The runner parses the module's stdout; every byte of it is in this JSON text again.
    stdout = json.dumps(result)
    for line in ACTIVE_KEY_BODY:
        assert line not in stdout
    assert "PRIVATE KEY" not in stdout


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is the independent reference")
def test_header_from_key_file_and_csr_file(module_runner, key_files):
    active_key, backup_csr = key_files
    result = module_runner("hpkp_header", dict(active=[str(active_key)], backup=[str(backup_csr)],
                                               _ansible_verbosity=4))
    active_pin = _openssl_pin_of_private_key(active_key)
    backup_pin = keys.spki_sha256(BACKUP.public_key())
    assert result["changed"] is False and not result.get("failed")
    assert result["header_name"] == "Public-Key-Pins-Report-Only"
    assert result["header_value"] == 'pin-sha256="%s"; pin-sha256="%s"; max-age=5184000' % (active_pin, backup_pin)
    assert result["pins"] == [
        {"sha256": active_pin, "role": "active",
         "source": "active[0]: private key, EC P-256 key, file %s" % active_key},
        {"sha256": backup_pin, "role": "backup",
         "source": "backup[0]: CSR CN=www.example.org, RSA 2048 key, file %s" % backup_csr},
    ]
    warnings = " ".join(str(w) for w in result["warnings"])
    assert "Chrome 72" in warnings and "Firefox 72" in warnings and "curl --pinnedpubkey" in warnings
    assert "sha256//" + active_pin in warnings and "DANE" in warnings
    assert_no_private_key(result)


def test_inline_private_key_is_never_echoed_and_raw_backup_pin_is_shown(module_runner):
    backup_pin = keys.spki_sha256(BACKUP.public_key())
    result = module_runner("hpkp_header", dict(active=[ACTIVE_PEM], backup=[backup_pin], report_only=False,
                                               include_subdomains=True, max_age=60,
                                               report_uri="https://reports.example.org/hpkp",
                                               _ansible_verbosity=4))
    assert result["header_name"] == "Public-Key-Pins"
    assert result["header_value"] == (
        'pin-sha256="%s"; pin-sha256="%s"; max-age=60; includeSubDomains; report-uri="https://reports.example.org/hpkp"'
        % (keys.spki_sha256(ACTIVE.public_key()), backup_pin))
    assert result["pins"][0]["source"] == "active[0]: private key, EC P-256 key, PEM content"
    assert result["pins"][1]["source"] == "backup[0]: pin-sha256 value"
    assert_no_private_key(result)


def test_check_mode_gives_the_same_result_and_no_change(module_runner, key_files):
    args = dict(active=[str(key_files[0])], backup=[str(key_files[1])])
    normal = module_runner("hpkp_header", args)
    checked = module_runner("hpkp_header", args, check_mode=True)
    assert checked["changed"] is False
    assert checked["header_value"] == normal["header_value"]


def test_refused_without_a_differing_backup_and_no_header(module_runner):
    result = module_runner("hpkp_header", dict(active=[ACTIVE_PEM],
                                               backup=[keys.spki_sha256(ACTIVE.public_key())]))
    assert result["failed"] and "RFC 7469 §4.3" in result["msg"]
    assert "header_name" not in result and "header_value" not in result
    assert_no_private_key(result)


def test_unparsable_backup_is_named(module_runner, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN PUBLIC KEY-----\nTk9UQUtFWQ==\n-----END PUBLIC KEY-----\n")
    result = module_runner("hpkp_header", dict(active=[ACTIVE_PEM],
                                               backup=[keys.spki_sha256(BACKUP.public_key()), str(junk)]))
    assert result["failed"] and result["msg"].startswith("backup[1] (file %s) has a PEM PUBLIC KEY block" % junk)
    assert "header_value" not in result
    assert_no_private_key(result)


def test_negative_max_age_refused(module_runner):
    result = module_runner("hpkp_header", dict(active=[ACTIVE_PEM], backup=[keys.spki_sha256(BACKUP.public_key())],
                                               max_age=-1))
    assert result["failed"] and "max_age -1" in result["msg"] and "header_value" not in result

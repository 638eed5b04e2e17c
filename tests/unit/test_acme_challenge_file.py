"""acme_challenge_file run as a real process with the managed host's interpreter (standard library only)."""

import os
import stat

import pytest

HOST_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
TOKEN = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"


def tree(root):
    """Every path under root with its content: proof that nothing was written anywhere."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            seen[path] = open(path, "rb").read() if os.path.isfile(path) else None
    return seen


@pytest.fixture
def webroot(tmp_path):
    root = tmp_path / "srv" / "www"
    root.mkdir(parents=True)
    return root


def run(module_runner, **args):
    return module_runner("acme_challenge_file", args, python=HOST_PYTHON,
                         check_mode=args.pop("_check", False), diff=True)


def test_writes_challenge_world_readable_and_is_idempotent(module_runner, webroot):
    result = run(module_runner, webroot=str(webroot), token=TOKEN, key_authorization=TOKEN + ".thumb")
    path = webroot / ".well-known" / "acme-challenge" / TOKEN
    assert result["changed"] is True and result["paths"] == [str(path)]
    assert path.read_text() == TOKEN + ".thumb"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o755
    assert TOKEN in result["diff"]["after"]
    again = run(module_runner, webroot=str(webroot), token=TOKEN, key_authorization=TOKEN + ".thumb")
    assert again["changed"] is False


def test_list_form_and_removal(module_runner, webroot):
    items = [{"token": "tok%d_abc-DEF" % i, "key_authorization": "ka%d" % i, "identifier": "x"} for i in range(3)]
    assert run(module_runner, webroot=str(webroot), challenges=items)["changed"] is True
    assert sorted(os.listdir(webroot / ".well-known" / "acme-challenge")) == sorted(i["token"] for i in items)
    removed = run(module_runner, webroot=str(webroot), challenges=items, state="absent")
    assert removed["changed"] is True and len(removed["paths"]) == 3
    assert os.listdir(webroot / ".well-known" / "acme-challenge") == []
    assert run(module_runner, webroot=str(webroot), tokens=[i["token"] for i in items], state="absent")[
        "changed"] is False


def test_check_mode_writes_nothing(module_runner, webroot):
    before = tree(webroot.parent)
    result = run(module_runner, webroot=str(webroot), token=TOKEN, key_authorization="x", _check=True)
    assert result["changed"] is True
    assert tree(webroot.parent) == before


@pytest.mark.parametrize("token, fragment", [
    ("../x", "not base64url"),
    ("a/b", "not base64url"),
    ("", "empty"),
    ("A" * 10240, "longer than"),
])
def test_hostile_tokens_are_refused_before_any_write(module_runner, webroot, token, fragment):
    # A good challenge first in the list: it must not be written either (all tokens checked first).
    before = tree(webroot.parent.parent)
    result = run(module_runner, webroot=str(webroot),
                 challenges=[{"token": TOKEN, "key_authorization": "ok"}, {"token": token, "key_authorization": "x"}])
    assert result.get("failed") is True
    assert fragment in result["msg"] and "challenge 1" in result["msg"]
    assert len(result["msg"]) < 300  # a 10 kB token is not echoed back whole
    assert tree(webroot.parent.parent) == before
    assert not (webroot / ".well-known").exists()


def test_missing_webroot_is_named(module_runner, tmp_path):
    result = run(module_runner, webroot=str(tmp_path / "nope"), token=TOKEN, key_authorization="x")
    assert result["failed"] and "nope does not exist" in result["msg"]
    assert not (tmp_path / "nope").exists()


def test_push_removes_other_files_in_the_same_exec(module_runner, webroot, tmp_path):
    """remove_challenges: the probe of a certificate the run defers goes away in the push of the others."""
    other = tmp_path / "other"
    other.mkdir()
    probe = "certfleet-probe-abc"
    assert run(module_runner, webroot=str(other), token=probe, key_authorization="probe")["changed"] is True
    result = run(module_runner, challenges=[{"token": TOKEN, "key_authorization": "ka", "webroot": str(webroot)}],
                 remove_challenges=[{"token": probe, "webroot": str(other)}])
    assert result["changed"] is True
    assert sorted(result["paths"]) == sorted([str(other / ".well-known" / "acme-challenge" / probe),
                                              str(webroot / ".well-known" / "acme-challenge" / TOKEN)])
    assert os.listdir(other / ".well-known" / "acme-challenge") == []
    assert (webroot / ".well-known" / "acme-challenge" / TOKEN).read_text() == "ka"
    assert "%s: present" % probe in result["diff"]["before"]
    again = run(module_runner, challenges=[{"token": TOKEN, "key_authorization": "ka", "webroot": str(webroot)}],
                remove_challenges=[{"token": probe, "webroot": str(other)}])
    assert again["changed"] is False


def test_remove_challenges_are_checked_before_any_write(module_runner, webroot):
    before = tree(webroot.parent.parent)
    result = run(module_runner, challenges=[{"token": TOKEN, "key_authorization": "ok", "webroot": str(webroot)}],
                 remove_challenges=[{"token": "../../etc/passwd", "webroot": str(webroot)}])
    assert result.get("failed") is True and "remove_challenges item 0" in result["msg"], result
    assert tree(webroot.parent.parent) == before


def test_remove_challenges_only_with_state_present(module_runner, webroot):
    result = run(module_runner, webroot=str(webroot), tokens=[TOKEN], state="absent",
                 remove_challenges=[{"token": TOKEN, "webroot": str(webroot)}])
    assert result.get("failed") is True and "remove_challenges goes with state=present" in result["msg"]

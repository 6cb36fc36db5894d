"""`make test` / `make run` installing Debian packages while another apt-get holds the lock."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

SCRIPT = os.path.join(settings.BASE_DIR, "scripts", "apt-install")
LOCK = "/var/lib/dpkg/lock-frontend"
HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists(LOCK), reason="needs root and Debian's dpkg lock"
)


@pytest.fixture
def held_lock():
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, LOCK], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    yield holder
    holder.kill()
    holder.wait()


def run_script(wait_seconds):
    env = {**os.environ, "APT_GET": "true", "APT_LOCK_WAIT_SECONDS": str(wait_seconds)}
    return subprocess.Popen(
        [SCRIPT, "metamorph-admin-no-such-package"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def test_an_install_waits_for_another_apt_and_says_so_then_goes_on(held_lock):
    install = run_script(600)
    first = install.stdout.readline()
    assert "another apt-get/dpkg holds /var/lib/dpkg/lock-frontend" in first
    assert f"pid {held_lock.pid}" in first and "waiting up to 600 s" in first
    held_lock.kill()  # the other apt-get finishes
    rest = install.stdout.read()
    assert install.wait(timeout=60) == 0
    assert "the lock is free, installing metamorph-admin-no-such-package" in rest


def test_an_install_gives_up_after_its_bound_with_what_to_do(held_lock):
    install = run_script(1)
    out = install.stdout.read()
    assert install.wait(timeout=60) == 1
    assert "still held after 1 s" in out and "APT_LOCK_WAIT_SECONDS" in out


def test_packages_already_installed_need_no_lock(held_lock):
    done = subprocess.run([SCRIPT, "coreutils"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == ""

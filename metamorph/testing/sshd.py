"""A throw-away OpenSSH server on 127.0.0.1 for the off-host backup tests.

Its own host key, client key, authorized_keys and config in a temporary directory, on a free
port; the system's sshd, its config and port 22 are never touched. Debian's openssh-server
(`make test` installs it) provides /usr/sbin/sshd.
"""

import os
import shutil
import socket
import subprocess
import time

SSHD = "/usr/sbin/sshd"
CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
# The remote command (borg serve) runs through the user's shell, which would read the user's own
# ~/.bashrc first (on this kind of machine root's runs `pyenv init`: ~0.12 s a connection).
# A home of the server's own keeps the machine's dotfiles out of the tests. borg serve skips
# borg's self-tests, as the client side does in the tests (conftest.py).
SetEnv HOME={dir}/home BORG_SELFTEST=disabled
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path], check=True, timeout=60
    )


class SshServer:
    """`start()` returns once the port accepts connections; `stop()` ends only this sshd."""

    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self.port = free_port()
        self.user = os.environ.get("USER") or "root"
        self.proc = None

    @property
    def rsh(self):
        """The ssh command (BORG_RSH) that reaches this server with the throw-away key."""
        return (
            f"ssh -i {self.dir}/client_key -o IdentitiesOnly=yes -o BatchMode=yes "
            f"-o StrictHostKeyChecking=no -o UserKnownHostsFile={self.dir}/known_hosts "
            "-o ConnectTimeout=20"
        )

    def url(self, path):
        return f"ssh://{self.user}@127.0.0.1:{self.port}{os.path.abspath(path)}"

    def start(self, timeout=60.0):
        os.makedirs(f"{self.dir}/home", exist_ok=True)
        _keygen(f"{self.dir}/host_key")
        _keygen(f"{self.dir}/client_key")
        shutil.copyfile(f"{self.dir}/client_key.pub", f"{self.dir}/authorized_keys")
        with open(f"{self.dir}/sshd_config", "w") as fh:
            fh.write(CONFIG.format(port=self.port, dir=self.dir))
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", f"{self.dir}/sshd_config"],
            stderr=open(f"{self.dir}/sshd.log", "w"),
        )
        deadline = time.monotonic() + timeout
        while not self._accepts():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the test sshd did not start: {self.log()}")
            time.sleep(0.05)
        return self

    def _accepts(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def log(self):
        try:
            with open(f"{self.dir}/sshd.log") as fh:
                return fh.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

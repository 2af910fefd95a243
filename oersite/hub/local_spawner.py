"""Local servers for ``oersite hub serve``, run as an unprivileged account, never as root.

JupyterHub's SimpleLocalProcessSpawner runs every server as the hub's own
user: started as root (the usual case in a container or on a lab server), every
visitor who clicks "Try now" would get a root shell.  This spawner switches each
server to one unprivileged account before it starts (JupyterHub's own
``set_user_setuid``, as LocalProcessSpawner does for system users), after
making the server's home and handing it to that account.  All servers share the
account, so they are not isolated from each other: that is the Docker bundle's
job; this is for previews and tests on one machine.

Runs inside the local hub.
"""

from __future__ import annotations

import os
import pwd

from jupyterhub.spawner import SimpleLocalProcessSpawner, set_user_setuid
from traitlets import Unicode


class AccountProcessSpawner(SimpleLocalProcessSpawner):
    """Each server a local process of ``account`` (empty: the hub's own user, which must not be root)."""

    account = Unicode(
        "",
        help="System account every server runs as. Empty: the hub's own user, allowed only when that is not root.",
    ).tag(config=True)

    def make_preexec_fn(self, name):
        if not self.account:
            if os.geteuid() == 0:
                raise RuntimeError("refusing to start a server as root: set AccountProcessSpawner.account")
            return super().make_preexec_fn(name)
        record = pwd.getpwnam(self.account)
        home = self.home_dir
        switch = set_user_setuid(self.account, chdir=False)

        def preexec() -> None:
            # Still root here (between fork and exec): the home, then the account.  The home's
            # folder is root's (the account cannot put a link there), and the home is handed
            # over through a descriptor opened without following links, to be sure.
            try:
                os.mkdir(home, 0o700)
            except FileExistsError:
                pass
            descriptor = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                os.fchown(descriptor, record.pw_uid, record.pw_gid)
            finally:
                os.close(descriptor)
            switch()
            os.chdir(home)

        return preexec

"""Launch links: "Open in hub" and "Try now" as plain functions of plain values.

Both buttons are nbgitpuller links through JupyterHub's ``user-redirect``:
``{hub}/hub/user-redirect/git-pull?repo=...&branch=...&targetpath=...&urlpath=...``.
After signing in (single sign-on on the persistent hub, an automatic
temporary user on the ephemeral one) JupyterHub sends the student to their
own server's ``/git-pull``, nbgitpuller clones or merges the course into
``targetpath`` (student edits win on merge) and redirects to ``urlpath``, the
notebook opened in JupyterLab or the classic notebook.  See
https://nbgitpuller.readthedocs.io/en/latest/topic/url-options.html.

The Sphinx side (``oersite.sphinx_ext``) only places the buttons this module
computes; everything here can be tested without building a site.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from oersite.config import LaunchTarget
from oersite.errors import ConfigError
from oersite.schema import BRANCH, HUB_URL, documented, load

OPEN_IN_HUB = "Open in hub"
TRY_NOW = "Try now"
OPEN_IN_HUB_TITLE = "Your own saved copy of this notebook on the course hub, after you sign in"
TRY_NOW_TITLE = "A temporary copy of this notebook: no sign-in, deleted when you leave"
RUN_CODE = "Run code"
RUN_CODE_TITLE = "Edit and run this page's code here, on a temporary server: no sign-in"

#: Where each interface opens a file, below the single-user server's root.
INTERFACE_PATHS = {"lab": "lab/tree", "classic": "notebooks"}
#: nbgitpuller's handler on a student's server, and the hub's redirect to it on the signed-in user's.
SERVER_GIT_PULL = "/git-pull"
GIT_PULL = "/hub/user-redirect" + SERVER_GIT_PULL


@dataclass(frozen=True)
class NotebookLaunch:
    """A notebook's own ``oersite.launch`` metadata: what its page's buttons do unlike the course's."""

    hub: bool = documented("Show the Open in hub button.", True)
    try_now: bool = documented("Show the Try now button.", True, key="try")
    run_code: bool = documented("Show the Run code button (needs the Try now hub).", True)
    branch: str | None = documented("The branch to pull instead of the course's.", kind=BRANCH, example="solutions")
    hub_url: str | None = documented(
        "The persistent hub to open it on instead of the course's.", kind=HUB_URL, example="https://hub.example.edu"
    )
    try_url: str | None = documented(
        "The Try-now hub to open it on instead of the course's.", kind=HUB_URL, example="https://try.example.edu"
    )


@dataclass(frozen=True)
class LaunchButton:
    """One button in a notebook page's header."""

    text: str
    url: str
    title: str
    css_class: str


def git_pull_query(*, repository: str, branch: str, clone_folder: str, notebook: str, interface: str = "lab") -> str:
    """nbgitpuller's query: pull ``branch`` of ``repository`` into ``clone_folder``, then open ``notebook`` in it.

    The launch links carry it, and the hubs too (``HubBundleSettings.pull_query``:
    what a server opens first, what the warm pool pulls ahead), so it is made here alone.
    """
    opened = PurePosixPath(clone_folder, notebook).as_posix()
    urlpath = f"{INTERFACE_PATHS[interface]}/{quote(opened)}"
    return urlencode(
        {"repo": repository, "branch": branch, "targetpath": clone_folder, "urlpath": urlpath},
        quote_via=quote,
    )


def git_pull_url(
    hub_url: str, *, repository: str, branch: str, clone_folder: str, notebook: str, interface: str = "lab"
) -> str:
    """The nbgitpuller link that opens ``notebook`` (a path inside the repository) on ``hub_url``."""
    query = git_pull_query(
        repository=repository, branch=branch, clone_folder=clone_folder, notebook=notebook, interface=interface
    )
    return f"{hub_url.rstrip('/')}{GIT_PULL}?{query}"


@dataclass(frozen=True)
class GitPull:
    """An nbgitpuller link taken apart, as nbgitpuller reads it (the inverse of ``git_pull_url``)."""

    hub_url: str
    repository: str
    branch: str
    clone_folder: str
    interface: str | None  # None when its urlpath opens neither JupyterLab nor the classic notebook
    notebook: str | None  # the path inside the repository; None when it is not inside the clone folder


def parse_git_pull_url(url: str) -> GitPull:
    """Take an nbgitpuller link apart (https://nbgitpuller.readthedocs.io/en/latest/topic/url-options.html)."""
    hub_url, _, _ = url.partition(GIT_PULL)
    query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    clone_folder = query.get("targetpath", "")
    urlpath = unquote(query.get("urlpath", ""))
    interface, opened = None, None
    for name, prefix in INTERFACE_PATHS.items():
        if urlpath.startswith(prefix + "/"):
            interface, opened = name, urlpath[len(prefix) + 1 :]
    notebook = None
    if opened is not None and clone_folder and opened.startswith(clone_folder.rstrip("/") + "/"):
        notebook = PurePosixPath(opened[len(clone_folder.rstrip("/")) + 1 :]).as_posix()
    return GitPull(hub_url, query.get("repo", ""), query.get("branch", ""), clone_folder, interface, notebook)


def notebook_buttons(
    target: LaunchTarget, notebook_path: str, metadata: dict[str, Any], *, where: str
) -> list[LaunchButton]:
    """The buttons of one notebook page, after the notebook's own overrides.

    ``notebook_path`` is the notebook's path inside the course folder;
    ``metadata`` the notebook's ``oersite.launch`` metadata; ``where`` names the
    notebook in error messages.
    """
    own = notebook_launch(metadata, where)
    in_repository = PurePosixPath(target.path_in_repository or ".", notebook_path).as_posix()
    branch = own.branch or target.branch
    buttons = []
    if own.hub:
        url = launch_url(target, own.hub_url or target.hub_url, in_repository, branch=branch)
        buttons.append(LaunchButton(OPEN_IN_HUB, url, OPEN_IN_HUB_TITLE, "oersite-open-in-hub"))
    if own.try_now:
        url = launch_url(
            target, own.try_url or target.try_url, in_repository, branch=branch, interface=target.try_interface
        )
        buttons.append(LaunchButton(TRY_NOW, url, TRY_NOW_TITLE, "oersite-try-now"))
    return buttons


@dataclass(frozen=True)
class RunCode:
    """What a notebook page's Run code button needs: which hub to ask, what to pull, which notebook it is.

    The page asks ``hub_url``'s ``/hub/run-code`` (``oersite.hub.authenticator``) for a server,
    pulls the course there with nbgitpuller's API and the Try now link's own query
    (``pull_query``), and runs its cells in a kernel whose session is ``notebook`` (below
    the server's root, so the kernel runs in the notebook's folder); Open in JupyterLab
    continues at ``open_path`` on the same server.
    """

    hub_url: str
    pull_query: str
    notebook: str
    open_path: str
    #: The notebook's code cells the script must know beyond the page's own (``run_code_cells``), or "".
    cells: str = ""


#: Cell tags (myst-nb's, in both spellings) that leave a code cell's code off the page.
CODE_OFF_THE_PAGE = frozenset({"remove-input", "remove_input", "remove-cell", "remove_cell"})
#: The tag Jupyter Book's live code (sphinx-thebe) runs when the kernel starts: a lesson's set-up.
RUN_AT_START = "thebe-init"


def run_code_cells(cells: list[dict[str, Any]]) -> str:
    """The notebook's code cells in order, as JSON for the Run code script; "" when the page tells all.

    A cell whose code the page leaves out (``CODE_OFF_THE_PAGE``, or myst-nb's
    ``remove_code_source``) comes with its code, so "Run all above" runs the lesson's hidden
    set-up too; a ``thebe-init`` cell is marked, to run as soon as the kernel is there.
    Cells the page shows are only marked shown: the script takes their code from its editors.
    """
    planned = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata", {})
        tags = set(metadata.get("tags", []))
        source = cell.get("source", "")
        entry: dict[str, Any] = {"shown": True}
        if tags & CODE_OFF_THE_PAGE or metadata.get("mystnb", {}).get("remove_code_source"):
            entry = {"shown": False, "code": "".join(source) if isinstance(source, list) else source}
        if RUN_AT_START in tags:
            entry["init"] = True
        planned.append(entry)
    if all(entry == {"shown": True} for entry in planned):
        return ""
    return json.dumps(planned, ensure_ascii=False)


def notebook_run_code(
    target: LaunchTarget, notebook_path: str, metadata: dict[str, Any], *, where: str
) -> RunCode | None:
    """The Run code button of one notebook page, or None: off for the course, for the notebook, or without Try now."""
    own = notebook_launch(metadata, where)
    if not (target.run_code and own.run_code and own.try_now):
        return None
    in_repository = PurePosixPath(target.path_in_repository or ".", notebook_path).as_posix()
    query = git_pull_query(
        repository=target.repository,
        branch=own.branch or target.branch,
        clone_folder=target.clone_folder,
        notebook=in_repository,
        interface=target.interface,
    )
    opened = PurePosixPath(target.clone_folder, in_repository).as_posix()
    return RunCode(
        hub_url=(own.try_url or target.try_url).rstrip("/"),
        pull_query=query,
        notebook=opened,
        open_path=f"{INTERFACE_PATHS[target.interface]}/{quote(opened)}",
    )


def launch_url(
    target: LaunchTarget, hub_url: str, notebook: str, *, branch: str | None = None, interface: str | None = None
) -> str:
    """The link that opens ``notebook`` (a path in the repository) on ``hub_url``, with the course's settings.

    ``interface``: what it opens the notebook in; by default Open in hub's (Try now passes its own).
    """
    return git_pull_url(
        hub_url,
        repository=target.repository,
        branch=branch or target.branch,
        clone_folder=target.clone_folder,
        notebook=notebook,
        interface=interface or target.interface,
    )


def notebook_launch(metadata: Any, where: str) -> NotebookLaunch:
    """A notebook's ``oersite.launch`` metadata, read by the loader ``_config.yml``'s sections go through.

    ``where`` names the notebook; every problem is a line naming it and the key.
    """
    problems: list[str] = []
    own = load(NotebookLaunch, {} if metadata is None else metadata, "metadata oersite.launch", problems)
    if problems:
        raise ConfigError("\n".join(f"{where}: {problem}" for problem in problems))
    return own

"""Launch links: each names a notebook committed where nbgitpuller will clone it, as ``_config.yml`` says.

Every "Open in hub" / "Try now" link names a notebook that is committed on the
link's branch of the link's repository (what nbgitpuller will clone), and the
links match ``_config.yml``'s launch settings.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from oersite.checks.findings import Finding, LinkCollector, site_pages
from oersite.config import Course, LaunchTarget
from oersite.errors import CheckError
from oersite.git import git_message, run_git
from oersite.launch import GIT_PULL, GitPull, parse_git_pull_url


@dataclass(frozen=True)
class LaunchLink(GitPull):
    """An nbgitpuller link found in a page, taken apart by ``oersite.launch``, which makes them."""

    page: str
    url: str


def launch_links(site: Path) -> list[LaunchLink]:
    """Every launch link of every page."""
    found = []
    for page in site_pages(site):
        collector = LinkCollector()
        collector.feed((site / page).read_text(encoding="utf-8", errors="replace"))
        found.extend(parse_launch_link(page, href) for href in collector.hrefs if GIT_PULL + "?" in href)
    return found


def parse_launch_link(page: str, url: str) -> LaunchLink:
    """A launch link of ``page``, taken apart as nbgitpuller reads it."""
    return LaunchLink(**vars(parse_git_pull_url(url)), page=page, url=url)


def interfaces_of(target: LaunchTarget, hub_url: str) -> tuple[str, ...]:
    """What a link to ``hub_url`` may open its notebook in: Open in hub's interface on the course's hub,
    Try now's on the Try-now hub, either on a hub a notebook names in its own metadata."""
    hubs = ((target.hub_url, target.interface), (target.try_url, target.try_interface))
    found = tuple(interface for url, interface in hubs if url.rstrip("/") == hub_url.rstrip("/"))
    return found or (target.interface, target.try_interface)


def check_launch_links(course: Course, site: Path) -> list[Finding]:
    """Each launch link's notebook is committed where the link says, and the links match ``_config.yml``."""
    links = launch_links(site)
    target = course.launch
    findings = []
    for link in links:
        what = f"launch link to {link.notebook or link.url}"
        if link.interface is None or link.notebook is None:
            findings.append(
                Finding(link.page, what, f"opens {link.url!r}, not a notebook inside its clone folder; rebuild")
            )
        elif target is not None:
            drift = [
                f"{name} {seen!r} where _config.yml has {' or '.join(map(repr, wanted))}"
                for name, seen, wanted in (
                    ("repository", link.repository, (target.repository,)),
                    ("clone folder", link.clone_folder, (target.clone_folder,)),
                    ("interface", link.interface, interfaces_of(target, link.hub_url)),
                )
                if seen not in wanted
            ]
            if drift:
                findings.append(
                    Finding(link.page, what, f"built with other launch settings ({'; '.join(drift)}); rebuild")
                )
    by_source: dict[tuple[str, str], list[LaunchLink]] = {}
    for link in links:
        if link.notebook is not None:
            by_source.setdefault((link.repository, link.branch), []).append(link)
    for (repository, branch), source_links in by_source.items():
        try:
            committed = committed_files(repository, branch)
        except CheckError as problem:
            pages = sorted({link.page for link in source_links})
            findings.append(Finding(pages[0], f"launch links to {repository} (branch {branch})", problem.message))
            continue
        missing = {(link.page, link.notebook) for link in source_links if link.notebook not in committed}
        for page, notebook in sorted(missing):  # once per page, though both its buttons open the notebook
            findings.append(
                Finding(
                    page,
                    f"launch link to {notebook}",
                    f"not committed on branch {branch} of {repository}: students would get an error; "
                    "commit and push the notebook",
                )
            )
    return findings


def committed_files(repository: str, branch: str) -> set[str]:
    """The files on ``branch`` of ``repository``, as nbgitpuller would clone them.

    ``git ls-remote`` tells an unreachable repository from a missing branch;
    a shallow fetch without file contents (where the server allows it) into
    a throwaway repository then lists the files, for local and remote
    repositories alike.
    """
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password
    listed = run_git(["ls-remote", "--heads", repository, f"refs/heads/{branch}"], environment, timeout=300)
    if listed.returncode != 0:
        raise CheckError(f"cannot read the repository ({git_message(listed.stderr)}); check oersite.launch.repository")
    if not listed.stdout.strip():
        raise CheckError(f"the repository has no branch {branch!r}; push it, or fix oersite.launch.branch")
    commit = listed.stdout.split()[0]
    with tempfile.TemporaryDirectory(prefix="oersite-check-git-") as temporary:
        steps = (
            ["init", "--quiet", "--bare", temporary],
            ["-C", temporary, "fetch", "--quiet", "--depth", "1", "--filter=blob:none", repository, commit],
            ["-C", temporary, "ls-tree", "-r", "-z", "--name-only", commit],
        )
        for step in steps:
            completed = run_git(step, environment, timeout=300)
            if completed.returncode != 0:
                raise CheckError(f"cannot read branch {branch!r} of the repository ({git_message(completed.stderr)})")
    return set(filter(None, completed.stdout.split("\0")))

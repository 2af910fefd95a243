"""``oersite publish``: send the built site where students read it, losing nothing.

Two targets, one set of options (as Datasette's ``publish`` has):

- git (``--to-git REMOTE [--branch gh-pages]``): a new commit on a branch of
  any git remote, made with ghp-import (``.nojekyll`` added so GitHub Pages
  serves ``_static``; ``CNAME`` written when configured).  The commit's parent
  is the branch as the remote has it now, so the branch's history is kept:
  every publish is one more commit.  All the git work happens in a throwaway
  repository, never in the course's own repository or build.  ``--rollback``
  adds a commit holding the previous commit's files.
- dir (``--to-dir DIR``): a web server's document root.  The new site is
  written beside it and swapped in with one atomic rename (Linux's
  ``renameat2(RENAME_EXCHANGE)``), so a reader sees the old site or the new
  one, never half of one; the old one stays beside it for ``--rollback``.
  Only a folder that is absent, empty or published by oersite (its record is
  there) is replaced: never one holding someone's files, the course, the site
  being published, ``/`` or a home folder, whatever ``--force`` says.

Each publish writes a record (source commit, oersite version, time, target)
into the published site as ``oersite-publish.json`` and appends it to
``_build/.oersite/publish.log`` in the course, so an instructor can answer
"which version are students seeing?" from either end.

``publish_checked`` is what ``oersite publish`` does: the checks of
``oersite.checks`` first, and a site with errors is not published unless forced.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from oersite import __version__
from oersite.build_layout import BuildLayout
from oersite.config import Course, is_remote_repository
from oersite.errors import PublishError
from oersite.git import git_message, run_git

if TYPE_CHECKING:
    from oersite.checks import CheckReport

#: The publish record, at the root of every published site.
RECORD_FILE = "oersite-publish.json"


@dataclass(frozen=True)
class PublishTarget:
    """Where a site goes: a branch of a git remote, or a folder."""

    kind: str  # "git" or "dir"
    location: str  # the remote (URL or absolute path), or the folder's absolute path
    branch: str = "gh-pages"
    cname: str | None = None

    def describe(self) -> str:
        if self.kind == "git":
            return f"branch {self.branch} of {self.location}"
        return f"folder {self.location}"


@dataclass(frozen=True)
class PublishRecord:
    """What went out: enough to tell which version of the course students see."""

    source_commit: str | None  # the course repository's HEAD; None outside git
    source_modified: bool  # the course had uncommitted changes when it was published
    oersite_version: str
    published_at: str  # UTC, ISO 8601
    target: str


@dataclass(frozen=True)
class PublishResult:
    target: PublishTarget
    record: PublishRecord | None  # for a rollback: the record of the version now live (if it has one)
    detail: str  # one line for the user: the commit made, or where the previous version is
    log_path: Path


def publish_target(
    course: Course,
    *,
    to_git: str | None = None,
    to_dir: str | None = None,
    branch: str | None = None,
    cname: str | None = None,
) -> PublishTarget:
    """The target from the command line's flags over ``_config.yml``'s ``oersite.publish``.

    Relative paths given as flags are relative to the working folder; those in
    ``_config.yml`` to the course.
    """
    settings = course.settings.publish
    if to_git and to_dir:
        raise PublishError("give --to-git or --to-dir, not both")
    if to_git:
        kind, location, base = "git", to_git, Path.cwd()
    elif to_dir:
        kind, location, base = "dir", to_dir, Path.cwd()
    else:
        kind = settings.target or ("git" if settings.remote else "dir" if settings.dir else None)
        if kind is None:
            raise PublishError(
                "no publish target; pass --to-git REMOTE or --to-dir DIR, "
                "or set oersite.publish.remote or oersite.publish.dir in _config.yml"
            )
        location, base = (settings.remote if kind == "git" else settings.dir) or "", course.root
    if kind == "git":
        location = _remote_location(location, base)
    else:
        location = str(Path(base, location).absolute())
    return PublishTarget(kind, location, branch or settings.branch, cname if cname is not None else settings.cname)


def _remote_location(remote: str, base: Path) -> str:
    """A git remote as git takes it: URLs and scp-like ``host:path`` as given, local paths made absolute."""
    return remote if is_remote_repository(remote, base) else str(Path(base, remote).absolute())


def publish_record(course: Course, target: PublishTarget) -> PublishRecord:
    """The record of a publish happening now."""
    commit = _git_output(course.root, "rev-parse", "--verify", "HEAD")
    changes = _git_output(course.root, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return PublishRecord(
        source_commit=commit,
        source_modified=bool(changes),
        oersite_version=__version__,
        published_at=datetime.now(UTC).isoformat(timespec="seconds"),
        target=target.describe(),
    )


def publish_checked(
    course: Course, site: Path, target: PublishTarget, *, force: bool, announce: Callable[[CheckReport], None]
) -> PublishResult:
    """Check the site, ``announce`` what the checks found, then publish it, unless they found errors.

    With ``force`` a site with errors is published all the same (the caller
    says so loudly); without, nothing is published and PublishError says why. An OER
    needs a licence: a course without ``oersite.license`` is refused before any check.
    """
    from oersite.checks import check_site, summary

    if target.kind == "dir":  # before the checks: a folder that may not be replaced is said at once
        refuse_folder(Path(target.location), site=site, course_root=course.root)
    if course.license is None and not force:
        raise PublishError(
            f"{course.relative(course.config_path)}: oersite.license.id is not set, so readers cannot tell what they "
            "may do with the course; set an SPDX identifier such as CC-BY-4.0 (nothing was published), "
            "or publish anyway with --force"
        )
    report = check_site(course, site)
    announce(report)
    if report.errors and not force:
        raise PublishError(f"{summary(report)}; nothing was published. Fix them, or publish anyway with --force")
    return publish_site(course, site, target)


def publish_site(course: Course, site: Path, target: PublishTarget) -> PublishResult:
    """Publish the built ``site`` to ``target``, record it, and log it; the build itself is never changed."""
    record = publish_record(course, target)
    if target.kind == "git":
        commit = publish_to_git(site, target, record, identity=_git_identity(course.root))
        detail = f"commit {commit[:12]}"
    else:
        previous = publish_to_dir(site, Path(target.location), record, course_root=course.root)
        detail = f"the previous version is kept in {previous}" if previous else "first version in this folder"
    log_path = append_log(course, {"action": "publish", **asdict(record), "result": detail})
    return PublishResult(target, record, detail, log_path)


def rollback_site(course: Course, target: PublishTarget) -> PublishResult:
    """Put the previously published version back; a second rollback undoes the first.

    A folder swaps with the version kept beside it; a git branch gets a new
    commit holding its previous commit's files, so its history keeps both.
    """
    if target.kind == "git":
        live = rollback_git(target, identity=_git_identity(course.root))
    else:
        refuse_folder(Path(target.location), course_root=course.root, contents=False)
        rollback_dir(Path(target.location))
        live = read_record(Path(target.location))
    rolled_back_to = f"published {live.published_at} from {live.source_commit}" if live else "a version with no record"
    detail = f"back to the version {rolled_back_to}"
    log_path = append_log(
        course,
        {
            "action": "rollback",
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "target": target.describe(),
            "live": asdict(live) if live else None,
        },
    )
    return PublishResult(target, live, detail, log_path)


def read_record(site: Path) -> PublishRecord | None:
    """The record of a published site, or None when it has none (or an unreadable one)."""
    try:
        return PublishRecord(**json.loads((site / RECORD_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def append_log(course: Course, entry: dict) -> Path:
    log_path = BuildLayout(course.root).publish_log
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
    return log_path


# --- git -----------------------------------------------------------------------------------------


def publish_to_git(site: Path, target: PublishTarget, record: PublishRecord, *, identity: tuple[str, str]) -> str:
    """Commit ``site`` (plus its record) on top of the remote's branch and push it; return the commit.

    ghp-import commits on top of ``<remote>/<branch>`` and pushes without
    force, so a branch that moved meanwhile is refused rather than overwritten.
    It runs in a throwaway repository whose only remote is the target.
    """
    remote, branch = target.location, target.branch
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password
    environment.setdefault("GIT_COMMITTER_NAME", identity[0])
    environment.setdefault("GIT_COMMITTER_EMAIL", identity[1])
    if run_git(["check-ref-format", "--branch", branch], environment).returncode != 0:
        raise PublishError(f"{branch!r} is not a valid git branch name; fix --branch or oersite.publish.branch")
    listed = run_git(["ls-remote", "--heads", remote, f"refs/heads/{branch}"], environment)
    if listed.returncode != 0:
        raise PublishError(
            f"cannot reach git remote {remote} ({git_message(listed.stderr)}); check its URL or path and your "
            "access to it; nothing was published"
        )
    before = listed.stdout.split()[0] if listed.stdout.strip() else None
    with tempfile.TemporaryDirectory(prefix="oersite-publish-") as temporary:
        repository, content = Path(temporary, "repository"), Path(temporary, "site")
        _copy_site(site, content, record)
        steps = [["init", "--quiet", str(repository)], ["-C", str(repository), "remote", "add", "target", remote]]
        if before:
            steps.append(
                ["-C", str(repository), "fetch", "--quiet", "--depth", "1", "target"]
                + [f"+refs/heads/{branch}:refs/remotes/target/{branch}"]
            )
        for step in steps:
            completed = run_git(step, environment)
            if completed.returncode != 0:
                raise PublishError(
                    f"cannot read branch {branch} of {remote} ({git_message(completed.stderr)}); nothing was published"
                )
        message = f"Publish the course from {record.source_commit or 'a folder outside git'} (oersite {__version__})"
        command = [sys.executable, "-m", "ghp_import", "--no-jekyll", "--push", "--remote", "target"]
        command += ["--branch", branch, "--message", message]
        if target.cname:
            command += ["--cname", target.cname]
        imported = subprocess.run(
            [*command, str(content)], cwd=repository, capture_output=True, text=True, env=environment
        )
        made = run_git(["-C", str(repository), "rev-parse", "--verify", f"refs/heads/{branch}"], environment)
        if imported.returncode != 0 or made.returncode != 0 or made.stdout.strip() == before:
            problem = _push_problem(imported.stderr or imported.stdout)
            raise PublishError(f"{remote} did not take the site on branch {branch} ({problem}); nothing was published")
    return made.stdout.strip()


def rollback_git(target: PublishTarget, *, identity: tuple[str, str]) -> PublishRecord | None:
    """Commit the branch's previous files on top of it and push; return the record now live."""
    remote, branch = target.location, target.branch
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    for variable, value in zip(("NAME", "EMAIL"), identity, strict=True):
        environment.setdefault(f"GIT_AUTHOR_{variable}", value)
        environment.setdefault(f"GIT_COMMITTER_{variable}", value)
    with tempfile.TemporaryDirectory(prefix="oersite-rollback-") as temporary:

        def run(*arguments: str, problem: str) -> str:
            completed = run_git(["-C", temporary, *arguments], environment)
            if completed.returncode != 0:
                raise PublishError(f"{problem} ({_push_problem(completed.stderr)}); nothing was rolled back")
            return completed.stdout.strip()

        run("init", "--quiet", problem="cannot make a temporary repository")
        run(
            "fetch",
            "--quiet",
            "--depth",
            "2",
            remote,
            f"refs/heads/{branch}",
            problem=f"cannot read {target.describe()}",
        )
        tip = run("rev-parse", "FETCH_HEAD", problem="cannot read the fetched branch")
        if run_git(["-C", temporary, "rev-parse", "--verify", "--quiet", f"{tip}^"], environment).returncode != 0:
            raise PublishError(f"nothing to roll back to: {target.describe()} has one version only")
        message = f"Roll back to the version before {tip[:12]} (oersite {__version__})"
        commit = run("commit-tree", f"{tip}^^{{tree}}", "-p", tip, "-m", message, problem="cannot make the commit")
        run("push", "--quiet", remote, f"{commit}:refs/heads/{branch}", problem=f"{remote} refused the rollback")
        shown = run_git(["-C", temporary, "show", f"{commit}:{RECORD_FILE}"], environment)
    try:
        return PublishRecord(**json.loads(shown.stdout)) if shown.returncode == 0 else None
    except (ValueError, TypeError):
        return None


def _git_identity(folder: Path) -> tuple[str, str]:
    """The committer as the course's repository knows them, else oersite."""
    name = _git_output(folder, "config", "user.name") or "oersite"
    email = _git_output(folder, "config", "user.email") or "oersite@localhost"
    return name, email


def _git_output(folder: Path, *arguments: str) -> str | None:
    completed = subprocess.run(["git", "-C", str(folder), *arguments], capture_output=True, text=True)
    return (completed.stdout.strip() or None) if completed.returncode == 0 else None


def _push_problem(text: str) -> str:
    """What the remote or git said about a refused push (ghp-import adds a Python traceback after it)."""
    said = [
        line.strip()
        for line in text.splitlines()
        if line.startswith(("remote:", "error:", " ! ", "fatal:")) and line.strip() not in ("remote:",)
    ]
    return "; ".join(said) if said else git_message(text)


# --- folder --------------------------------------------------------------------------------------


def staging_paths(folder: Path) -> tuple[Path, Path]:
    """Where the next version is written, and where the previous one is kept: beside ``folder``,
    hidden, on the same file system (a rename cannot cross file systems), outside the document root."""
    return folder.with_name(f".{folder.name}.oersite-new"), folder.with_name(f".{folder.name}.oersite-previous")


def refuse_folder(folder: Path, *, site: Path | None = None, course_root: Path | None = None, contents=True) -> None:
    """PublishError, one line, unless ``folder`` may be replaced by a published site.

    It may be when it is absent, empty, or was published by oersite (its record is
    there); never when it is ``/``, a home folder, the course or a folder holding
    it, or holds the site being published or is inside it. ``contents``: whether
    what it holds counts (a rollback swaps only what a publish put there).
    """
    target = folder.resolve()
    homes = {Path.home().resolve()} | {Path(account.pw_dir).resolve() for account in pwd.getpwall()}
    if target == Path(target.anchor):
        problem = "is the root folder"
    elif target in homes:
        problem = "is a home folder"
    elif course_root is not None and (target == course_root.resolve() or target in course_root.resolve().parents):
        problem = "is the course folder" if target == course_root.resolve() else "holds the course"
    elif site is not None and (target == site.resolve() or target in site.resolve().parents):
        problem = f"holds or is the built site {site}"
    elif site is not None and site.resolve() in target.parents:
        problem = f"is inside the built site {site}"
    elif target.exists() and not target.is_dir():
        problem = "is a file, not a folder"
    elif contents and target.is_dir() and not (target / RECORD_FILE).is_file() and not _is_empty(target):
        problem = f"holds files oersite did not publish (no {RECORD_FILE}), which replacing it would delete"
    else:
        return
    raise PublishError(
        f"{folder} {problem}; publish to a folder of the site's own (new, empty, or published before), "
        "such as /var/www/course; nothing was published"
    )


def _is_empty(folder: Path) -> bool:
    try:
        return not any(folder.iterdir())
    except OSError:  # unreadable: not known to be empty
        return False


def publish_to_dir(site: Path, folder: Path, record: PublishRecord, *, course_root: Path | None = None) -> Path | None:
    """Replace ``folder`` with ``site`` in one swap; return where the previous version is kept (None: first)."""
    refuse_folder(folder, site=site, course_root=course_root)
    staging, previous = staging_paths(folder)
    if previous.is_dir() and not (previous / RECORD_FILE).is_file() and not _is_empty(previous):
        raise PublishError(
            f"{previous} is in the way (where the previous version is kept) and holds files oersite did not "
            "publish; move it away; nothing was published"
        )
    try:
        if staging.exists():  # left by an interrupted publish
            shutil.rmtree(staging)
        _copy_site(site, staging, record)
        if folder.is_dir():
            shutil.copymode(folder, staging)  # the web server could read the old root; it can read the new one
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise PublishError(
            f"cannot write beside {folder} ({exc.strerror or exc}); publish to a folder whose parent folder "
            "you can write to; nothing was published"
        ) from None
    try:
        if not folder.is_dir():
            os.rename(staging, folder)
            return None
        exchange(staging, folder)
        if previous.exists():
            shutil.rmtree(previous)
        os.rename(staging, previous)
    except OSError as exc:
        raise PublishError(f"cannot swap the new site into {folder} ({exc.strerror or exc})") from None
    return previous


def rollback_dir(folder: Path) -> None:
    """Swap ``folder`` with the version kept beside it."""
    refuse_folder(folder, contents=False)
    _staging, previous = staging_paths(folder)
    if not previous.is_dir():
        raise PublishError(f"nothing to roll back to: no previous version of {folder} is kept ({previous})")
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder; nothing to roll back")
    try:
        exchange(previous, folder)
    except OSError as exc:
        raise PublishError(f"cannot swap the previous version into {folder} ({exc.strerror or exc})") from None


def exchange(first: Path, second: Path) -> None:
    """Swap two folders' names at once (Linux ``renameat2(RENAME_EXCHANGE)``).

    Where the kernel or file system cannot (other systems, some network file
    systems) it falls back to two renames: for an instant ``second`` is missing.
    """
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, rename_exchange = -100, 2
        renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(second))
    aside = second.with_name(second.name + ".oersite-swap")
    os.rename(second, aside)
    os.rename(first, second)
    os.rename(aside, first)


def _copy_site(site: Path, destination: Path, record: PublishRecord) -> None:
    """A copy of the site with its record: the build stays as it was."""
    shutil.copytree(site, destination)
    (destination / RECORD_FILE).write_text(json.dumps(asdict(record), indent=2) + "\n", encoding="utf-8")

"""``oersite hub``: the course hubs (declares commands; the work is in the modules beside it)."""

from __future__ import annotations

from pathlib import Path

import click

from oersite.messages import shown

SOURCE = click.argument("source", default=".", type=click.Path(file_okay=False, path_type=Path), metavar="[SOURCE]")


@click.group()
def hub() -> None:
    """The course hubs: write the deployable bundle, run both hubs here, check the bundle.

    Every value comes from SOURCE/_config.yml (oersite.launch, oersite.data, oersite.hub).
    """


@hub.command()
@SOURCE
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the bundle (default: SOURCE/hub).",
)
def config(source: Path, output: Path | None) -> None:
    """Write the deployable hub bundle (compose, Apache, hub configs, image, Helm values)."""
    from oersite.config import load_course
    from oersite.hub.bundle import write_bundle
    from oersite.hub.layout import APACHE_GROUP_ID

    course = load_course(source)
    folder = output if output is not None else course.root / "hub"
    report = write_bundle(course, folder)
    click.echo(f"Wrote {len(report.written)} files to {shown(folder)}")
    if report.settings.repository is None:
        click.echo(
            "Note: the launch repository is a folder on this machine: the buttons work with oersite hub serve, "
            "but hub containers cannot pull from it; for production set oersite.launch.repository (or "
            "repository.url) to a git URL"
        )
    if report.secrets_created:
        click.echo(f"Generated secrets in {shown(folder / '.env')} (mode 0600, git-ignored)")
    if report.saml_metadata is not None:
        url = report.settings.persistent_url
        here = "; oersite hub serve at that address signs with the same key" if "//127.0.0.1:" in url else ""
        click.echo(
            f"Register the hub with your identity provider: hand over {shown(report.saml_metadata)} "
            f"(the SAML service provider's metadata, also served at {url}/mellon/metadata{here}; "
            "hub/README.md says what to ask for)"
        )
    if report.users_file_group_unset is not None:
        users = shown(report.users_file_group_unset)
        click.echo(
            f"Made {users} (mode 0640) for Basic auth's students; Apache's workers read it through its group, "
            f"which needs root to give: chgrp {APACHE_GROUP_ID} {users}"
        )
    click.echo(f"Check it with: oersite hub check {shown(course.root)}")
    click.echo("Build the images (see hub/README.md for the rest of the deployment):")
    for command in report.build_commands:
        click.echo(f"  {command}")
    if report.registry is None:
        click.echo(
            "Note: no oersite.hub.registry, so the images have local names: enough for Docker on this server; "
            "for Zero to JupyterHub set it to the registry your cluster pulls from and run oersite hub config again"
        )


PORT = click.IntRange(0, 65535)


@hub.command()
@SOURCE
@click.option("--persistent-port", type=PORT, default=None, help="Apache's port (default: hub_url's).")
@click.option("--ephemeral-port", type=PORT, default=None, help="Try-now port (default: try_url's).")
@click.option(
    "--users",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="htpasswd file of Basic-auth users (default: oersite.hub.users_file, else one created in the state folder).",
)
def serve(source: Path, persistent_port: int | None, ephemeral_port: int | None, users: Path | None) -> None:
    """Run both hubs on 127.0.0.1: the persistent one behind Apache, and the try-now one (Ctrl-C stops)."""
    from oersite.config import load_course
    from oersite.hub.serve import serve_hubs

    course = load_course(source)
    click.echo("Starting Apache and both hubs...")
    serve_hubs(
        course,
        persistent_port=persistent_port,
        ephemeral_port=ephemeral_port,
        users_file=users,
        announce=click.echo,
    )


@hub.command()
@SOURCE
@click.option(
    "--bundle",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The bundle to check (default: SOURCE/hub).",
)
def check(source: Path, bundle: Path | None) -> None:
    """Validate the bundle without Docker or a cluster: hub configs, Helm values, compose file, Apache config."""
    from oersite.hub.check import check_bundle, secret_warnings

    folder = (bundle if bundle is not None else source / "hub").resolve()
    result = check_bundle(folder)
    for warning in secret_warnings(folder):
        click.echo(warning)
    click.echo(f"Bundle {shown(folder)} is valid: {', '.join(result.checked)}")
    for warning in result.warnings:
        click.secho(f"Warning: {warning}", fg="yellow")

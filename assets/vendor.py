"""Copy the files that built pages load (and the checker's axe-core) from node_modules into oersite/static/vendor.

Run by ``npm run build`` (hatch-jupyter-builder runs it when the oersite
package is built or installed, the way JupyterLab extensions bundle their
JavaScript).  Only what a browser fetches is copied, with each package's
licence beside it.  The layout below is what ``oersite.assets`` maps CDN URLs
to; change both together.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULES = HERE / "node_modules"
VENDOR = HERE.parent / "oersite" / "static" / "vendor"

#: vendor folder -> (npm package, [(file or folder in the package, place in the vendor folder)])
COPIES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "leaflet": (
        "leaflet",
        [("dist/leaflet.js", "leaflet.js"), ("dist/leaflet.css", "leaflet.css"), ("dist/images", "images")],
    ),
    "jquery": ("jquery", [("dist/jquery.min.js", "jquery.min.js")]),
    "bootstrap": (
        "bootstrap",
        [
            ("dist/css/bootstrap.min.css", "css/bootstrap.min.css"),
            ("dist/js/bootstrap.bundle.min.js", "js/bootstrap.bundle.min.js"),
        ],
    ),
    "fontawesome": (
        "@fortawesome/fontawesome-free",
        [("css/all.min.css", "css/all.min.css"), ("webfonts", "webfonts")],
    ),
    "leaflet.awesome-markers": (
        "leaflet.awesome-markers",
        [
            ("dist/leaflet.awesome-markers.js", "leaflet.awesome-markers.js"),
            ("dist/leaflet.awesome-markers.css", "leaflet.awesome-markers.css"),
            ("dist/images", "images"),
        ],
    ),
    # Bootstrap 3's glyphicons alone (folium's default marker icons), without Bootstrap 3 itself.
    "glyphicons": (
        "glyphicons-only-bootstrap",
        [("css/bootstrap.min.css", "css/glyphicons.min.css"), ("fonts", "fonts")],
    ),
    "d3": ("d3", [("d3.min.js", "d3.min.js")]),
    # MathJax 3's combined TeX/MathML component, what its menu and TeX loads on demand, and its web fonts.
    # Left out: the speech-rule engine (sre, 4 MB) behind the menu's optional "explorer".
    "mathjax": (
        "mathjax",
        [
            ("es5/tex-mml-chtml.js", "tex-mml-chtml.js"),
            ("es5/a11y", "a11y"),
            ("es5/ui", "ui"),
            ("es5/input/tex/extensions", "input/tex/extensions"),
            ("es5/output/chtml/fonts/woff-v2", "output/chtml/fonts/woff-v2"),
        ],
    ),
    # Not a page's library: the accessibility audit of ``oersite check --accessibility`` injects it
    # into each page it opens. No page references it, so ``oersite.assets`` never copies it into a site.
    "axe-core": ("axe-core", [("axe.min.js", "axe.min.js")]),
}

#: The Run code button's client (run-code/run-code.js) with @jupyterlab/services, bundled for the browser:
#: one file a page names, with the licences of what went into it beside it.
RUN_CODE_SOURCE = HERE / "run-code" / "run-code.js"
RUN_CODE_FOLDER = "run-code"

LICENCE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "license", "LICENCE")


def rotate_css() -> str:
    """Folium's marker-rotation classes (``fa-rotate-N`` for every whole degree).

    Folium links this stylesheet from its GitHub repository; it is not in
    any package, and it is nothing but one generated rule per degree.
    """
    return (
        "\n".join(
            f".fa-rotate-{n}{{-ms-transform:rotate({n}deg);-webkit-transform:rotate({n}deg);transform:rotate({n}deg);}}"
            for n in range(1, 361)
        )
        + "\n"
    )


def bundle_run_code(folder: Path) -> None:
    """esbuild: run-code.js and the parts of @jupyterlab/services it uses, minified, one script for browsers.

    Beside it, ``LICENSES.txt``: each npm package that went into the bundle, its version and licence
    (with its licence file when it has one), from esbuild's own list of its inputs.
    """
    folder.mkdir(parents=True)
    metafile = Path(tempfile.mkdtemp()) / "meta.json"
    subprocess.run(
        [
            str(MODULES / ".bin" / "esbuild"),
            str(RUN_CODE_SOURCE),
            "--bundle",
            "--minify",
            "--format=iife",
            "--target=es2020",
            "--platform=browser",
            "--legal-comments=linked",
            "--define:process.env.NODE_ENV='production'",
            "--log-level=warning",
            f"--metafile={metafile}",
            f"--outfile={folder / 'run-code.js'}",
        ],
        check=True,
    )
    packages = set()
    for source in json.loads(metafile.read_text())["inputs"]:
        parts = Path(source).parts
        if "node_modules" in parts:
            at = len(parts) - 1 - parts[::-1].index("node_modules")
            name = parts[at + 1 : at + 3] if parts[at + 1].startswith("@") else parts[at + 1 : at + 2]
            packages.add(Path(*parts[: at + 1], *name))
    shutil.rmtree(metafile.parent, ignore_errors=True)
    sections = ["The Run code client (oersite, BSD-3-Clause) bundles these npm packages:\n"]
    for package in sorted(packages):
        meta = json.loads((HERE / package / "package.json").read_text())
        sections.append(f"\n== {meta['name']} {meta['version']} ({meta.get('license', 'see its package')})\n")
        licence = next((HERE / package / name for name in LICENCE_NAMES if (HERE / package / name).is_file()), None)
        if licence is not None:
            sections.append(licence.read_text(encoding="utf-8", errors="replace"))
    (folder / "LICENSES.txt").write_text("".join(sections), encoding="utf-8")


def main() -> None:
    staging = VENDOR.with_name("vendor.partial")
    shutil.rmtree(staging, ignore_errors=True)
    for folder, (package, copies) in COPIES.items():
        source_root = MODULES / package
        for source, target in copies:
            origin, destination = source_root / source, staging / folder / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, destination)
            else:
                shutil.copy2(origin, destination)
        licence = next((source_root / name for name in LICENCE_NAMES if (source_root / name).is_file()), None)
        if licence is not None:
            shutil.copy2(licence, staging / folder / "LICENSE")
    bundle_run_code(staging / RUN_CODE_FOLDER)
    (staging / "folium").mkdir()
    (staging / "folium" / "leaflet.awesome.rotate.min.css").write_text(rotate_css())
    shutil.rmtree(VENDOR, ignore_errors=True)
    staging.rename(VENDOR)
    print(f"vendored {len(COPIES) + 2} libraries into {VENDOR}")


if __name__ == "__main__":
    main()

"""Copy the files that built pages load (and the checker's axe-core) from node_modules into oersite/static/vendor.

Run by ``npm run build`` (hatch-jupyter-builder runs it when the oersite
package is built or installed, the way JupyterLab extensions bundle their
JavaScript).  Only what a browser fetches is copied, with each package's
licence beside it.  The layout below is what ``oersite.assets`` maps CDN URLs
to; change both together.
"""

from __future__ import annotations

import shutil
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
    (staging / "folium").mkdir()
    (staging / "folium" / "leaflet.awesome.rotate.min.css").write_text(rotate_css())
    shutil.rmtree(VENDOR, ignore_errors=True)
    staging.rename(VENDOR)
    print(f"vendored {len(COPIES) + 1} libraries into {VENDOR}")


if __name__ == "__main__":
    main()

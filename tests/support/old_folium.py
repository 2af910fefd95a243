# ruff: noqa: E501  (the pages as folium wrote them, one statement a line)
"""Map outputs as older Folium saved them in notebooks: fixtures for the saved-maps tests.

The page is folium 0.11's (branca 0.4): Leaflet 1.6, jQuery 1.12, Bootstrap 3.2, Font
Awesome 4.6 and Leaflet.awesome-markers 2.0.2 from four CDNs, one awesome marker and one
circle; the frame is branca 0.4's, the page base64-encoded in ``data-html`` and written into
the frame by its ``onload``.  The accented name is there because the old ``atob`` garbled it.
"""

from __future__ import annotations

import base64

import nbformat

LIBRARIES = """\
    <script>L_NO_TOUCH = false; L_DISABLE_3D = false;</script>
    <style>html, body {width: 100%;height: 100%;margin: 0;padding: 0;}</style>
    <style>#map {position:absolute;top:0;bottom:0;right:0;left:0;}</style>
    <script src="https://cdn.jsdelivr.net/npm/leaflet@1.6.0/dist/leaflet.js"></script>
    <script src="https://code.jquery.com/jquery-1.12.4.min.js"></script>
    <script src="https://maxcdn.bootstrapcdn.com/bootstrap/3.2.0/js/bootstrap.min.js"></script>
    <script src="https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js"></script>
    <link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/leaflet@1.6.0/dist/leaflet.css"/>
    <link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/3.2.0/css/bootstrap.min.css"/>
    <link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/3.2.0/css/bootstrap-theme.min.css"/>
    <link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/font-awesome/4.6.3/css/font-awesome.min.css"/>
    <link rel="stylesheet" href="https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css"/>
    <link rel="stylesheet" href="https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css"/>
"""

PLUGIN = '    <script src="https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/leaflet.markercluster.js"></script>\n'

BODY = """\
    <style>#map_0123456789abcdef {position: relative; width: 100.0%; height: 100.0%; left: 0.0%; top: 0.0%;}</style>
</head>
<body>
    <div class="folium-map" id="map_0123456789abcdef" ></div>
</body>
<script>
    var map_0123456789abcdef = L.map("map_0123456789abcdef", {center: [48.85, 2.35], crs: L.CRS.EPSG3857, zoom: 11});
    var tile_layer_0123 = L.tileLayer("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", {"attribution": "OpenStreetMap"}).addTo(map_0123456789abcdef);
    var marker_0123 = L.marker([48.8584, 2.2945], {}).addTo(map_0123456789abcdef);
    var icon_0123 = L.AwesomeMarkers.icon({"extraClasses": "fa-rotate-0", "icon": "info-sign", "iconColor": "white", "markerColor": "red", "prefix": "glyphicon"});
    marker_0123.setIcon(icon_0123);
    marker_0123.bindPopup($(`<div id="html_0123" style="width: 100.0%; height: 100.0%;">Tour Eiffel, Champ-de-Mars, Paris (é)</div>`)[0]);
    var circle_0123 = L.circleMarker([48.8606, 2.3376], {"color": "#3186cc", "fill": true, "radius": 10}).addTo(map_0123456789abcdef);
</script>
"""


def map_page(*, plugin: bool = False) -> str:
    """The whole HTML page of an old Folium map."""
    head = '<!DOCTYPE html>\n<head>\n    <meta http-equiv="content-type" content="text/html; charset=UTF-8" />\n'
    return head + LIBRARIES + (PLUGIN if plugin else "") + BODY


def data_html_output(page: str) -> str:
    """The map as branca 0.4 wrote it into a notebook's ``text/html`` output."""
    encoded = base64.b64encode(page.encode("utf-8")).decode("ascii")
    onload = "this.contentDocument.open();this.contentDocument.write(atob(this.getAttribute('data-html')));this.contentDocument.close();"
    return (
        '<div style="width:100%;"><div style="position:relative;width:100%;height:0;padding-bottom:60%;">'
        '<span style="color:#565656">Make this Notebook Trusted to load map: File -> Trust Notebook</span>'
        '<iframe src="about:blank" style="position:absolute;width:100%;height:100%;left:0;top:0;'
        f'border:none !important;" data-html={encoded} onload="{onload}" '
        "allowfullscreen webkitallowfullscreen mozallowfullscreen></iframe></div></div>"
    )


def data_url_output(page: str) -> str:
    """The map as branca before 0.4 wrote it: a base64 ``data:`` URL."""
    encoded = base64.b64encode(page.encode("utf-8")).decode("ascii")
    return (
        '<div style="width:100%;"><div style="position:relative;width:100%;height:0;padding-bottom:60%;">'
        f'<iframe src="data:text/html;charset=utf-8;base64,{encoded}" style="position:absolute;width:100%;'
        'height:100%;left:0;top:0;border:none !important;" allowfullscreen webkitallowfullscreen '
        "mozallowfullscreen></iframe></div></div>"
    )


def map_cell(markup: str, *, alt: str = "A map of Paris with the Eiffel Tower marked") -> nbformat.NotebookNode:
    """A code cell that made an old map, with its saved output (the outputs a course without execution shows)."""
    cell = nbformat.v4.new_code_cell(
        "import folium\nm = folium.Map([48.85, 2.35], zoom_start=11)\nm", metadata={"alt": alt}
    )
    cell.execution_count = 1
    cell.outputs = [
        nbformat.v4.new_output(
            "execute_result",
            data={"text/html": markup, "text/plain": "<folium.folium.Map at 0x7f0>"},
            execution_count=1,
        )
    ]
    return cell

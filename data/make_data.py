"""Make the course's data files from the bokeh-sampledata package.

Run it from anywhere with:

    python data/make_data.py

It reads only the offline sample data that ships inside the
``bokeh-sampledata`` pip package (no network access) and (re)writes three
small files next to this script:

* ``airports.csv``              - airports in the 48 contiguous states and DC
* ``us_states.geojson``         - simplified boundaries of the same 49 areas
* ``unemployment_by_state.csv`` - 2009 unemployment rate of each of them

Alaska, Hawaii and the overseas territories are left out on purpose: the
maps in the course are then one compact shape that fits on the screen.
The output is deterministic, so running the script again gives the same
files. See README.md in this folder for sources and licences.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

from bokeh_sampledata import package_path
from bokeh_sampledata.airport_routes import airports as all_airports
from bokeh_sampledata.us_counties import records as county_records
from bokeh_sampledata.us_states import records as state_records
from shapely.geometry import Point, mapping

HERE = Path(__file__).resolve().parent

# Areas that are left out (see the module docstring).
LEFT_OUT = {"AK", "HI"}

# How much the state outlines are simplified, in degrees (0.01 degree is
# roughly 1 km), and how many decimals the written coordinates keep.
SIMPLIFY_TOLERANCE = 0.01
DECIMALS = 4

# OurAirports' size classes, in words a beginner understands.
AIRPORT_SIZES = {
    "large_airport": "large",
    "medium_airport": "medium",
    "small_airport": "small",
}


def load_states() -> list[dict]:
    """The 48 contiguous states and DC, sorted by their two-letter code."""
    states = [s for s in state_records() if s["code"] not in LEFT_OUT]
    return sorted(states, key=lambda s: s["code"])


def rounded(value):
    """Round every number in nested lists/tuples of coordinates."""
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return round(float(value), DECIMALS)


def write_states_geojson(states: list[dict], path: Path) -> None:
    features = []
    for state in states:
        outline = state["geometry"].simplify(SIMPLIFY_TOLERANCE, preserve_topology=True)
        geometry = mapping(outline)
        features.append(
            {
                "type": "Feature",
                "properties": {"code": state["code"], "name": state["name"]},
                "geometry": {
                    "type": geometry["type"],
                    "coordinates": rounded(geometry["coordinates"]),
                },
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    with path.open("w", encoding="utf-8", newline="\n") as f:
        json.dump(collection, f, separators=(",", ":"))
        f.write("\n")


def state_of(longitude: float, latitude: float, states: list[dict]) -> str | None:
    """Code of the state containing the point, or of a state within ~5 km."""
    point = Point(longitude, latitude)
    for state in states:
        if state["geometry"].contains(point):
            return state["code"]
    # Some coastal airports sit just outside the (simplified) coastline.
    nearest = min(states, key=lambda s: s["geometry"].distance(point))
    if nearest["geometry"].distance(point) < 0.05:
        return nearest["code"]
    return None


def write_airports_csv(states: list[dict], path: Path) -> None:
    rows = []
    for airport in all_airports.itertuples(index=False):
        if airport.Country != "United States":
            continue
        code = state_of(airport.Longitude, airport.Latitude, states)
        if code is None:
            continue  # Alaska, Hawaii, or outside every state
        rows.append(
            {
                "iata": airport.IATA,
                "name": airport.Name,
                "city": airport.City,
                "state": code,
                "latitude": round(float(airport.Latitude), DECIMALS),
                "longitude": round(float(airport.Longitude), DECIMALS),
                "elevation_ft": int(airport.Altitude),
                "size": AIRPORT_SIZES[airport.Type],
            }
        )
    rows.sort(key=lambda row: (row["state"], row["iata"]))
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_unemployment_csv(states: list[dict], path: Path) -> None:
    """Add up the 2009 county figures of the U.S. Bureau of Labor Statistics.

    Each row of the source file is one county: its labour force (people who
    have a job or are looking for one) and how many of them are unemployed.
    The state's rate is its unemployed people divided by its labour force.
    """
    # The source identifies states by their numeric FIPS code ("01" is
    # Alabama); the county records tell which postal code belongs to which.
    fips_to_code = {c["state_fips"]: c["state"] for c in county_records()}
    labour_force = {s["code"]: 0 for s in states}
    unemployed = {s["code"]: 0 for s in states}
    with gzip.open(package_path("unemployment09.csv.gz"), "rt", encoding="utf-8") as f:
        for row in csv.reader(f):
            # row: series id, state FIPS, county FIPS, county name, year,
            #      labour force, employed, unemployed, rate
            code = fips_to_code.get(row[1])
            if code not in labour_force:
                continue  # Alaska, Hawaii or Puerto Rico
            labour_force[code] += int(row[5].replace(",", "").strip())
            unemployed[code] += int(row[7].replace(",", "").strip())
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["state", "name", "labour_force", "unemployed", "unemployment_rate"])
        for state in states:
            code = state["code"]
            rate = 100 * unemployed[code] / labour_force[code]
            writer.writerow([code, state["name"], labour_force[code], unemployed[code], f"{rate:.1f}"])


def main() -> None:
    states = load_states()
    write_states_geojson(states, HERE / "us_states.geojson")
    write_airports_csv(states, HERE / "airports.csv")
    write_unemployment_csv(states, HERE / "unemployment_by_state.csv")
    for name in ("airports.csv", "us_states.geojson", "unemployment_by_state.csv"):
        size = (HERE / name).stat().st_size
        print(f"wrote {name} ({size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()

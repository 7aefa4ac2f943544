"""Places and people of the synthetic area that are not children: towns and streets,
kinds of school and practice, where children are found, the officers who report."""

from __future__ import annotations

# Outward code -> town; inward codes are generated in the valid letter set.
TOWNS = {
    "NE61": "Morpeth",
    "NE62": "Bedlington",
    "NE63": "Ashington",
    "NE64": "Newbiggin-by-the-Sea",
    "NE65": "Amble",
    "NE66": "Alnwick",
    "NE46": "Hexham",
    "NE24": "Blyth",
    "NE22": "Bedlington",
    "NE23": "Cramlington",
    "NE42": "Prudhoe",
    "NE49": "Haltwhistle",
    "TD15": "Berwick-upon-Tweed",
}
STREETS = (
    "Bridge Street",
    "Front Street",
    "Station Road",
    "Church Lane",
    "Newgate Street",
    "Woodhorn Road",
    "Castle Terrace",
    "Coquet View",
    "Hadrian Way",
    "Tyne View",
    "Wansbeck Road",
    "Cheviot Close",
    "Bondgate Within",
    "Priory Gardens",
    "Seaton Avenue",
)
SCHOOL_KINDS = (
    "First School",
    "Primary School",
    "Middle School",
    "High School",
    "Academy",
    "Church of England First School",
    "St Mary's RC Primary School",
)
GP_KINDS = ("Medical Group", "Health Centre", "Surgery", "Medical Practice")
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
FACTORS = ("cse", "cce", "county-lines", "self-harm", "mental-health", "trafficking")
FOUND_PLACES = (
    ("NE1 4XF", "Haymarket bus station, Newcastle"),
    ("NE1 5DL", "Central Station, Newcastle"),
    ("NE24 2AP", "Blyth beach front"),
    ("NE63 9YH", "Ashington town centre"),
    ("NE61 1PN", "Carlisle Park, Morpeth"),
    ("NE46 3NH", "Hexham bus station"),
    ("SR1 3PR", "Park Lane interchange, Sunderland"),
)
OFFICERS = (
    "DC Sarah Hall",
    "PC Mark Dixon",
    "PS Joanne Hewitt",
    "PC Aaron Burns",
    "DC Priya Shah",
    "PC Gemma Lowes",
    "PS David Bowman",
)

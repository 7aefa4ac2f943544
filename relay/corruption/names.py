"""The independent generator's names, streets and postcode districts (issue 22): its
own lists, sharing nothing with :mod:`relay.demo_data`."""

from __future__ import annotations


def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


# Commonest first: drawn with Zipf-like weights, so some names are far more common.
GIRLS = _words(
    "olivia amelia isla ava ivy freya lily florence mia willow rosie sophia isabella "
    "grace daisy sienna poppy elsie emily ella evelyn phoebe sofia evie charlotte "
    "harper millie matilda maya sophie alice emilia isabelle ruby luna maisie aria "
    "penelope mila bonnie eva hallie eliza ellie esme arabella chloe lucy jessica "
    "hannah megan bethany lauren abigail zara aisha hafsa maryam"
)
BOYS = _words(
    "muhammad noah oliver george leo arthur oscar theodore freddie theo harry archie "
    "henry jack alfie charlie finley teddy thomas jacob tommy arlo luca william lucas "
    "isaac james joshua max reuben edward ethan adam hugo elijah albert ezra harrison "
    "jude louie logan rory samuel daniel joseph benjamin dylan mason tyler kai riley "
    "callum connor liam ryan ibrahim yusuf ali"
)
SURNAMES = _words(
    "smith jones williams taylor brown davies evans wilson thomas johnson roberts "
    "robinson thompson wright walker white edwards hughes green hall lewis harris "
    "clarke patel jackson wood turner martin cooper hill ward morris moore clark lee "
    "king baker harrison morgan allen james scott phillips watson davis parker price "
    "bennett young griffiths mitchell kelly cook carter richardson bailey collins bell "
    "shaw murphy miller cox richards khan marshall anderson simpson ellis adams singh "
    "begum wilkinson foster chapman powell webb rogers gray mason ali hussain campbell "
    "matthews owen palmer holmes mills barnes knight lloyd butler russell barker "
    "fisher stevens jenkins murray dixon harvey graham pearson ahmed fletcher walsh "
    "kaur gibson howard andrews stewart elliott reynolds saunders payne fox ford "
    "pearce day brooks west lawrence cole atkinson bradley spencer gill dawson ball "
    "burton o'brien watts rose booth perry ryan grant wells armstrong francis rees "
    "hayes hunt fraser kennedy chambers"
)
STREETS = _words(
    "Mill Lane,Church Street,Victoria Road,Green Lane,Park Avenue,Station Road,"
    "Manor Way,Kings Road,Queens Drive,Albert Street,Highfield Close,Beech Grove,"
    "Oak Crescent,Willow Walk,Meadow View,Orchard Rise,School Lane,Chapel Row,"
    "Springfield Road,New Street,Moor Lane,Cross Street,Westgate,Northfield Avenue",
    ",",
)
DISTRICTS = {
    "LS6": "Leeds", "LS11": "Leeds", "BD3": "Bradford", "BD7": "Bradford", "HX1": "Halifax",
    "WF2": "Wakefield", "HD1": "Huddersfield", "YO10": "York", "S8": "Sheffield",
    "DN4": "Doncaster",
}  # fmt: skip

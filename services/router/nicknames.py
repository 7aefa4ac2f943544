"""Given-name variants: a nickname or short form maps to its canonical name, so that
Bill, Billy, Will and Liam all meet William (pure data, used by blocking and matching)."""

from __future__ import annotations

from functools import lru_cache

from services.router.names import normalise_name

# canonical: variants. Extend with a partnership's own list through this module only.
_GROUPS: dict[str, tuple[str, ...]] = {
    "william": ("will", "bill", "billy", "willy", "willie", "liam", "wills"),
    "robert": ("rob", "bob", "bobby", "robbie", "robby", "bert"),
    "richard": ("rich", "rick", "ricky", "dick", "richie"),
    "james": ("jim", "jimmy", "jamie", "jimmie", "jamey"),
    "john": ("jack", "johnny", "jon", "jonny"),
    "jonathan": ("jon", "jonny", "johnny", "nathan"),
    "thomas": ("tom", "tommy", "thom"),
    "joseph": ("joe", "joey", "jo"),
    "michael": ("mike", "mikey", "mick", "micky", "mickey"),
    "daniel": ("dan", "danny"),
    "matthew": ("matt", "matty"),
    "christopher": ("chris", "kit", "christy"),
    "nicholas": ("nick", "nicky", "nico"),
    "alexander": ("alex", "alec", "xander", "sandy", "al"),
    "alexandra": ("alex", "alexa", "lexi", "lexie", "sandra", "sandy"),
    "benjamin": ("ben", "benny", "benji", "benjy"),
    "samuel": ("sam", "sammy"),
    "samantha": ("sam", "sammy", "sammie"),
    "joshua": ("josh",),
    "anthony": ("tony", "ant"),
    "edward": ("ed", "eddie", "eddy", "ted", "teddy", "ned"),
    "charles": ("charlie", "chas", "chuck"),
    "charlotte": ("lottie", "charlie", "lotte"),
    "henry": ("harry", "hal", "hank"),
    "harrison": ("harry",),
    "frederick": ("fred", "freddie", "freddy"),
    "george": ("georgie",),
    "oliver": ("ollie", "olly"),
    "olivia": ("liv", "livvy", "livvie", "ollie"),
    "isabella": ("bella", "izzy", "issy", "isabel", "isobel"),
    "elizabeth": ("liz", "lizzie", "lizzy", "beth", "betty", "eliza", "libby", "elsie"),
    "margaret": ("maggie", "meg", "peggy", "megan"),
    "katherine": ("kate", "katie", "kathy", "kat", "kitty", "catherine", "kathryn"),
    "catherine": ("cathy", "cat", "kate", "katie", "katherine"),
    "rebecca": ("becky", "becca", "bex"),
    "jessica": ("jess", "jessie"),
    "victoria": ("vicky", "vickie", "tori", "toria"),
    "abigail": ("abbie", "abby", "abi"),
    "amelia": ("millie", "amy", "mia"),
    "emily": ("em", "emmy", "millie"),
    "eleanor": ("ellie", "nell", "nora", "elle"),
    "gabriella": ("gabby", "ella"),
    "jacob": ("jake", "jakey"),
    "zachary": ("zach", "zack", "zac"),
    "nathaniel": ("nate", "nat", "nathan"),
    "patrick": ("pat", "paddy"),
    "peter": ("pete",),
    "stephen": ("steve", "stevie", "steven"),
    "steven": ("steve", "stevie", "stephen"),
    "theodore": ("theo", "ted", "teddy"),
    "sophia": ("sophie",),
    "jennifer": ("jen", "jenny", "jenna"),
    "mohammed": ("mohammad", "muhammad", "mohamed", "mo", "mohamad"),
    "aleksander": ("olek", "alek"),
}


@lru_cache(maxsize=1)
def _canonical() -> dict[str, str]:
    table: dict[str, str] = {}
    for canonical, variants in _GROUPS.items():
        table.setdefault(canonical, canonical)
        for variant in variants:
            # A variant shared by two names (Sam: Samuel, Samantha) keeps the first, so
            # blocking still meets one of them; scoring treats any shared group as a match.
            table.setdefault(variant, canonical)
    return table


@lru_cache(maxsize=65_536)
def canonical_given(name: str) -> str:
    """The canonical form of a normalised given name's first word (itself if unknown)."""
    first = normalise_name(name).split(" ", 1)[0]
    return _canonical().get(first, first)


@lru_cache(maxsize=1)
def _groups_of() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for canonical, variants in _GROUPS.items():
        for name in (canonical, *variants):
            out.setdefault(name, set()).add(canonical)
    return {name: frozenset(groups) for name, groups in out.items()}


def are_variants(a: str, b: str) -> bool:
    """True when two normalised given names are the same name in different forms."""
    first_a, first_b = a.split(" ", 1)[0], b.split(" ", 1)[0]
    if first_a == first_b:
        return True
    groups = _groups_of()
    return bool(groups.get(first_a, frozenset()) & groups.get(first_b, frozenset()))


def shared_variant(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are variants only through a short form that belongs to
    more than one name (Harry: Henry and Harrison; Sam: Samuel and Samantha): the short
    form alone cannot say which child, e.g. of twins Henry and Harrison, is meant."""
    first_a, first_b = a.split(" ", 1)[0], b.split(" ", 1)[0]
    groups = _groups_of()
    ga, gb = groups.get(first_a, frozenset()), groups.get(first_b, frozenset())
    return bool(ga & gb) and (len(ga) > 1 or len(gb) > 1)

"""Real parsers as oracles. Each module's `Oracle` takes statement texts and answers, for each
one it accepts, a `Truth` read off its own tree or its own action codes, never off ours."""

import time
from contextlib import contextmanager
from dataclasses import dataclass, field

# The dangerous classes, and the operations of ours any one of which names each. A statement of
# the class that we parse without one of them (for the unbounded ones: without saying unbounded)
# is a miss.
DANGEROUS = {
    "drop": {"drop"},
    "truncate": {"truncate"},
    "unbounded-delete": {"unbounded"},
    "unbounded-update": {"unbounded"},
    "grant/revoke": {"grant", "revoke"},
    "export": {"export"},
    "server-files": {"export"},
    "program": {"call"},
}


@dataclass
class Truth:
    """What the oracle's tree says one statement does."""

    kind: str  # read, write, ddl, session or other: for the breakdown only
    classes: set = field(default_factory=set)  # the dangerous classes it belongs to
    # An unbounded claim of ours the oracle cannot refute: a WHERE is there, but only evaluating
    # it would tell whether it bounds anything (`WHERE id = id`).
    unbounded_possible: bool = False
    # The statement holds code the oracle keeps as text (a PL/pgSQL body, a DO block) or acts on
    # nothing it can see (SQLite's DROP ... IF EXISTS of a missing table): no claim of ours about
    # it is refuted.
    opaque: bool = False


class Parsing:
    """What an oracle counts of its own parser: the texts it tried, and the time it took on them."""

    def __init__(self):
        self.parse_seconds = 0.0
        self.attempted = 0

    @contextmanager
    def parsing(self):
        self.attempted += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self.parse_seconds += time.perf_counter() - started


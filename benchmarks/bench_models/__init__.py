"""Per-system benchmark cases: each module defines ``cases(quick: bool) -> list[dict]``."""

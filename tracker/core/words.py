"""Label tables are plain Chinese; N_ marks them for the translation catalog (`make extract`), and
the pages translate them with _() when they show them."""


def N_(text: str) -> str:
    return text

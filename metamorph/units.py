"""Sizes in the operator's words, written one way everywhere (pages, messages, commands)."""

UNITS = (("GB", 1000**3), ("MB", 1000**2), ("kB", 1000))


def human_size(n):
    """Bytes in decimal units with one decimal: 1.4 GB, 83.1 MB, 12.0 kB, 512 bytes."""
    n = int(n)
    for unit, step in UNITS:
        if abs(n) >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n:,} bytes"

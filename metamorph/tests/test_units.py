"""One way to write a size: the pages, the messages and the commands agree."""

from metamorph.migrate.rehearsal import estimate_downtime
from metamorph.units import human_size


def test_sizes_are_decimal_with_one_decimal():
    assert [human_size(n) for n in (83_100_000, 1_064_000_000, 12_345, 999)] == [
        "83.1 MB",
        "1.1 GB",
        "12.3 kB",
        "999 bytes",
    ]


def test_the_downtime_sentence_writes_the_size_as_the_pages_do():
    assert "(this one is 83.1 MB)" in estimate_downtime(83_100_000)["sentence"]

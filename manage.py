#!/usr/bin/env python
"""Django's command-line utility for metamorph-admin (installed: the `metamorph-admin` command)."""

from metamorph_admin.__main__ import main

if __name__ == "__main__":
    main()

"""The version of metamorph-admin that reports name as their writer."""

VERSION = "0.11.0"

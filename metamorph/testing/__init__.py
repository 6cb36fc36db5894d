"""Support shared by tests and `make bench`: a process that writes like Metamorph, data shapes.

Plain Python (standard library only), except `fixtures`, the pytest plugin.
"""

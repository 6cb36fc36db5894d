"""A package's names imported on first use (PEP 562), so a command loads only what it runs."""

from importlib import import_module


def exports(package: str, where: dict[str, str], namespace: dict):
    """The package's `__getattr__`: `where` maps each name to the submodule that defines it;
    a name once imported is kept in `namespace` (the package's globals())."""

    def __getattr__(name):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(where[name], package), name)
        namespace[name] = value
        return value

    return __getattr__

"""Physics models and solvers built on tnkit."""

__all__: list[str] = []

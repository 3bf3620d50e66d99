"""The run pipeline outside any user interface: a RunConfig in, a RunResult and its files out
(session.py), the results document built once (document.py), every file format behind one
interface (exports.py). The CLI and the API are thin layers over it."""

from cvbench.pipeline.session import RunSession

__all__ = ["RunSession"]

"""Side-by-side measurements of smchub and stock JupyterHub (`make bench`).

Run with `python -m benchmarks` from the repository; see benchmarks/README.md for what
each figure means.
"""

"""The sckit notebook series (run under papermill by tests/test_notebooks.py).

This folder ships inside the package as ``sckit.notebooks`` so that ``sckit report`` finds the
quickstart notebook in a plain wheel install, not only in a checkout.
"""

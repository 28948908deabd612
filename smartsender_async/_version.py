__version__ = "0.1.0"
"""The version of smartsender-async (PEP 440); the changelog lists what each one changed."""
